"""The ``scoring`` command line: one subcommand per step of the flow.

Each command parses its options, calls one function and prints a summary. Heavy libraries are
imported inside the commands so that ``scoring --help`` stays instant.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Credit scoring on the Home Credit Default Risk schema: generate or validate data, "
    "build features, train, promote, serve and monitor.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DataDir = Annotated[Path, typer.Option("--data-dir", "-d", help="Folder of Kaggle-format "
                                       "table files (.csv, .csv.gz, .zip or .parquet).")]


Host = Annotated[str, typer.Option(help="Interface to bind (loopback by default).")]

#: polars' allocator (jemalloc) setting for the feature build, read when polars loads (polars
#: puts its own defaults before it). polars hands freed memory back to the OS after 0.5 s; the
#: build frees and allocates gigabytes family after family, and keeping freed memory 60 s saves
#: those page faults: about 9% faster at Kaggle size, for a peak 0.3-0.7 GiB higher.
POLARS_ALLOCATOR = {"_RJEM_MALLOC_CONF": "dirty_decay_ms:60000"}


def _number(text: str) -> int | float | str:
    """A parameter value: an int or a float when it reads as one, else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)


@app.command()
def generate(
    applications: Annotated[int, typer.Option(
        min=10, help="Number of clients (training + test applications).")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 0,
    out: Annotated[Path, typer.Option(help="Folder to write the eight tables to.")] = Path(
        "data/raw"),
    fmt: Annotated[str, typer.Option("--format", help="File format: csv, csv.gz or parquet.")
                   ] = "csv",
    test_share: Annotated[float, typer.Option(
        min=0.0, max=0.9, help="Share of clients written to application_test (Kaggle: 0.137).")
    ] = 48_744 / 356_255,
) -> None:
    """Write a synthetic data set with the Kaggle schema, calibrated to the real data."""
    from training.synthetic import generate as run

    counts = run(applications, seed=seed, out_dir=out, fmt=fmt, test_share=test_share)
    for table, rows in counts.items():
        typer.echo(f"{table:<24}{rows:>12,} rows")
    typer.echo(f"wrote {sum(counts.values()):,} rows to {out}/")


@app.command()
def validate(data_dir: DataDir = Path("data/raw")) -> None:
    """Check a data folder against the Kaggle schema and report problems per table.

    Fatal problems (bad file, missing column, bad values or keys, TARGET not 0/1) exit with 1.

    Warnings (optional table absent, extra column, unknown level, orphan rows) do not.

    README.md, section "Validating data", lists every message.
    """
    from scoring.validation import validate_folder

    report = validate_folder(data_dir)
    typer.echo(report.render())
    if report.fatal:
        raise typer.Exit(code=1)


@app.command()
def features(
    data_dir: DataDir = Path("data/raw"),
    out: Annotated[Path, typer.Option(help="Folder of the feature store (clients.parquet).")
                   ] = Path("data/features"),
) -> None:
    """Build the feature store: one row per client (train and test) with its history features.

    A missing side-table file leaves its features out, with a warning.
    """
    os.environ.update(POLARS_ALLOCATOR)  # before polars loads
    from scoring.store import build_store
    from scoring.tables import DataError

    try:
        summary = build_store(data_dir, out, progress=typer.echo)
    except DataError as err:
        _fail(str(err))
    for table in summary.missing_tables:
        typer.secho(f"warning: {table} not found, its features are left out",
                    fg=typer.colors.YELLOW, err=True)
    typer.echo(f"wrote {summary.train:,} train + {summary.test:,} test clients, "
               f"{summary.features} model features, to {summary.path} "
               f"in {summary.seconds:.1f} s")


@app.command()
def train(
    store: Annotated[Path, typer.Option(help="Feature store folder (from `scoring features`).")
                     ] = Path("data/features"),
    trials: Annotated[int, typer.Option(min=0, help="LightGBM search trials (0: defaults).")
                      ] = 10,
    timeout: Annotated[float, typer.Option(help="Time budget of the search, seconds.")] = 600.0,
    seed: Annotated[int, typer.Option(help="Seed of the split and the search.")] = 0,
    fn_cost: Annotated[float, typer.Option(help="Cost of granting a loan that defaults.")
                       ] = 10.0,
    fp_cost: Annotated[float, typer.Option(help="Cost of refusing a client who would repay.")
                       ] = 1.0,
    class_weight: Annotated[str, typer.Option(
        help="Class imbalance: 'none' (the cost-based threshold handles it) or 'balanced'.")
    ] = "none",
    calibrate: Annotated[bool, typer.Option(
        help="Platt-calibrate probabilities when it lowers the validation Brier score.")
    ] = True,
    threads: Annotated[int, typer.Option(help="LightGBM threads (0: all cores).")] = 0,
    register: Annotated[bool, typer.Option(
        help="Register the model as a new version with alias challenger.")] = True,
    param: Annotated[list[str] | None, typer.Option(
        help="Fixed LightGBM parameter NAME=VALUE, applied after the search (repeatable).")
    ] = None,
) -> None:
    """Train and compare candidates in MLflow; register LightGBM as @challenger.

    Candidates: a prior-rate baseline, a logistic regression and LightGBM (early stopping,
    optional Optuna search). The threshold minimises fn_cost x FN + fp_cost x FP on the
    validation part; test metrics are reported. Tracking store: mlruns/mlflow.db unless
    MLFLOW_TRACKING_URI is set. A failed run never changes @champion.
    """
    from training.run import TrainConfig
    from training.run import train as run

    if class_weight not in ("none", "balanced"):
        _fail(f"--class-weight must be 'none' or 'balanced', got {class_weight!r}")
    overrides = {}
    for item in param or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            _fail(f"--param expects NAME=VALUE, got {item!r}")
        overrides[name] = _number(value)
    config = TrainConfig(store=store, seed=seed, trials=trials, timeout=timeout,
                         fn_cost=fn_cost, fp_cost=fp_cost, class_weight=class_weight,
                         calibrate=calibrate, num_threads=threads, register=register,
                         lgbm_params=overrides)
    from scoring.tables import DataError

    try:
        result = run(config, say=typer.echo)
    except (FileNotFoundError, DataError) as err:
        _fail(str(err))
    m = result.metrics
    typer.echo(f"test ROC AUC {m['roc_auc']:.4f}, business cost {m['business_cost']:.4f} per "
               f"application at threshold {m['threshold']:.3f} (run {result.run_id})")


@app.command()
def promote(
    store: Annotated[Path, typer.Option(help="Feature store folder holding the test clients.")
                     ] = Path("data/features"),
    force: Annotated[bool, typer.Option(help="Promote even if the challenger is worse.")
                     ] = False,
    reason: Annotated[str | None, typer.Option(help="Why (required with --force; logged).")
                      ] = None,
    switch: Annotated[bool, typer.Option(
        help="When `scoring up` services run, switch them to the new champion.")] = True,
) -> None:
    """Move @champion to @challenger if it is at least as good on the same test clients.

    Compares ROC AUC (not lower) and business cost (not higher). Exit code 2 when refused.
    When the services of `scoring up` are running, the model server then switches to the new
    champion without failing a request (as `scoring reload`).
    """
    from training.promote import PromotionError
    from training.promote import promote as run

    try:
        decision = run(store, force=force, reason=reason)
    except PromotionError as err:
        _fail(str(err))
    verb = "promoted" if decision.promoted else "refused"
    typer.echo(f"{verb}: version {decision.challenger} "
               f"(champion was {decision.champion or 'none'}): {decision.reason}")
    if not decision.promoted:
        raise typer.Exit(code=2)
    from scoring.services import supervisor_running

    if switch and decision.champion != decision.challenger and supervisor_running("run"):
        typer.echo("services are up: switching the model server to the new champion")
        reload(Path("run"), version=decision.challenger)


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port of the model server.")] = 5001,
    host: Host = "127.0.0.1",
    model: Annotated[str, typer.Option(help="Model URI to serve.")
                     ] = "models:/credit-scoring@champion",
) -> None:
    """Serve a registered model on /invocations with the stock `mlflow models serve`.

    Also answers /ping, /health and /version. Runs in the foreground; Ctrl-C stops it.
    """
    import os
    import shutil
    import sys

    from training import track

    env = {**os.environ, "MLFLOW_TRACKING_URI": track.configure()}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    mlflow_bin = shutil.which("mlflow", path=env["PATH"]) or "mlflow"
    command = [mlflow_bin, "models", "serve", "-m", model, "--env-manager", "local",
               "-h", host, "-p", str(port)]
    typer.echo(" ".join(command))
    os.execve(mlflow_bin, command, env)


@app.command()
def dashboard(
    port: Annotated[int, typer.Option(help="Port of the dashboard.")] = 5006,
    host: Host = "127.0.0.1",
    model_url: Annotated[str, typer.Option(help="URL of the model server (`scoring serve`).")
                         ] = "http://127.0.0.1:5001",
    store: Annotated[Path, typer.Option(help="Feature store folder.")] = Path("data/features"),
    sample: Annotated[int, typer.Option(help="Clients scored once for the bivariate plot.")
                      ] = 20_000,
    password: Annotated[str | None, typer.Option(
        envvar="DASHBOARD_PASSWORD", help="Ask for this password (basic auth, any user name); "
        "or a JSON file of user: password.")] = None,
    cookie_secret: Annotated[str | None, typer.Option(
        envvar="DASHBOARD_COOKIE_SECRET", help="Secret signing the login cookie (random when "
        "not given: logins then end with the server).")] = None,
    lang: Annotated[str, typer.Option(envvar="DASHBOARD_LANG",
                                      help="Language of the pages: fr or en (?lang= on a "
                                           "page switches).")] = "fr",
    decisions_url: Annotated[str, typer.Option(
        envvar="DASHBOARD_DECISIONS_URL", help="The decision service (records the advisors' "
        "decisions); empty: none.")] = "",
    advisor: Annotated[str, typer.Option(
        envvar="DASHBOARD_ADVISOR", help="Advisor id at the decision service (password: "
        "DASHBOARD_ADVISOR_PASSWORD).")] = "",
) -> None:
    """Serve the advisor dashboard (Panel) on http://HOST:PORT/app.

    Scores come from the model server; the champion's card from the MLflow registry.
    """
    import os
    import secrets
    import shutil
    import sys

    from training import track

    env = {**os.environ, "MLFLOW_TRACKING_URI": track.configure()}
    panel = shutil.which("panel", path=str(Path(sys.executable).parent)) or "panel"
    app_file = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
    command = [panel, "serve", str(app_file), "--port", str(port), "--address", host,
               "--allow-websocket-origin", f"{host}:{port}", "--warm"]
    if password:
        command += ["--basic-auth", password,
                    "--cookie-secret", cookie_secret or secrets.token_hex(32)]
    command += ["--args", "--model-url", model_url, "--store", str(store), "--sample",
                str(sample), "--lang", lang, "--decisions-url", decisions_url,
                "--advisor", advisor]
    typer.echo(f"dashboard on http://{host}:{port}/app (model server {model_url})")
    os.execve(panel, command, env)


@app.command()
def score(
    data_dir: DataDir = Path("data/raw"),
    out: Annotated[Path, typer.Option(help="CSV file to write.")] = Path("data/scores.csv"),
    model: Annotated[str, typer.Option(help="Model URI to score with.")
                     ] = "models:/credit-scoring@champion",
) -> None:
    """Score every application_test row of a folder in batch: SK_ID_CURR, probability,
    decision."""
    from mlflow.exceptions import MlflowException

    from scoring.tables import DataError
    from serving.batch import score_folder
    from training import track

    track.configure()
    try:
        scores = score_folder(data_dir, model, say=typer.echo)
    except (DataError, MlflowException) as err:
        _fail(str(err).rsplit("Error: ", 1)[-1])
    out.parent.mkdir(parents=True, exist_ok=True)
    scores.to_csv(out, index=False)
    refused = (scores["decision"] == "refused").mean()
    typer.echo(f"wrote {len(scores):,} scores to {out} ({refused:.1%} refused)")


# --- operations: always-on services, model switch, monitoring -------------------------------

RunDir = Annotated[Path, typer.Option("--run-dir", help="Folder of the services' configs, "
                                      "sockets and logs.")]


def _settings(run_dir: Path, host: str, tracking_port: int, model_port: int,
              dashboard_port: int, store: Path, prediction_log: str, workers: int,
              model_nice: int = 10):
    """Services settings from the command line; the tracking store as `scoring train` uses."""
    from scoring.services import Settings
    from training import track

    uri = os.environ.get("MLFLOW_TRACKING_URI") or track.default_store()
    return Settings(tracking_uri=uri, run_dir=str(run_dir.resolve()), host=host,
                    tracking_port=tracking_port, model_port=model_port,
                    replica_ports=(model_port + 10, model_port + 11),
                    dashboard_port=dashboard_port, store=str(store.resolve()),
                    prediction_log=str(Path(prediction_log).resolve()) if prediction_log
                    else None, workers=workers, model_nice=model_nice)


def _print_status(states) -> None:
    typer.echo(f"{'service':<12}{'state':<10}{'health':<9}{'pid':>8}{'uptime':>9}  url")
    for st in states:
        uptime = f"{st.uptime:.0f} s" if st.uptime is not None else "-"
        typer.echo(f"{st.name:<12}{st.state:<10}{st.health:<9}{st.pid or '-':>8}{uptime:>9}  "
                   f"{st.url} {st.detail}".rstrip())


@app.command()
def up(
    run_dir: RunDir = Path("run"),
    host: Annotated[str, typer.Option(help="Interface every service binds to.")
                    ] = "127.0.0.1",
    tracking_port: Annotated[int, typer.Option(help="MLflow tracking UI port.")] = 5000,
    model_port: Annotated[int, typer.Option(
        help="Model URL (nginx); the two replicas use this port + 10 and + 11.")] = 5001,
    dashboard_port: Annotated[int, typer.Option(help="Dashboard port.")] = 5006,
    store: Annotated[Path, typer.Option(help="Feature store folder.")] = Path("data/features"),
    prediction_log: Annotated[str, typer.Option(
        help="Folder of the prediction log ('' to turn it off).")] = "data/predictions",
    workers: Annotated[int, typer.Option(min=1, help="uvicorn workers per replica.")] = 1,
    model_nice: Annotated[int, typer.Option(
        min=0, max=19, help="CPU priority of the model servers (nice): above 0, the "
        "dashboard's pages come first when scoring saturates the CPU.")] = 10,
    foreground: Annotated[bool, typer.Option(
        help="Run supervisord in the foreground (for systemd).")] = False,
) -> None:
    """Start the tracking UI, the model server (nginx + two replicas of @champion) and the
    dashboard under supervisord, and wait until each answers. Logs: RUN_DIR/logs/."""
    from scoring.services import ServiceError, bytecode_compiled
    from scoring.services import up as start

    settings = _settings(run_dir, host, tracking_port, model_port, dashboard_port, store,
                         prediction_log, workers, model_nice)
    if not bytecode_compiled():
        typer.secho("warning: the installed packages have no compiled bytecode, so every "
                    "model-server start compiles them again (twice as slow); run `make setup` "
                    "or `python -m compileall -q` on the virtualenv", fg=typer.colors.YELLOW,
                    err=True)
    try:
        states = start(settings, foreground=foreground)
    except ServiceError as err:
        _fail(str(err))
    _print_status(states)
    if any(st.health == "failing" or st.state not in ("RUNNING", "ABSENT") for st in states):
        _fail(f"some services are not healthy yet; see {run_dir}/logs/")


@app.command()
def status(run_dir: RunDir = Path("run")) -> None:
    """Each service: supervisor state, health check, pid, uptime, URL (and model version)."""
    from scoring.services import ServiceError
    from scoring.services import status as run

    try:
        states = run(run_dir)
    except ServiceError as err:
        _fail(str(err))
    _print_status(states)
    if any(st.health == "failing" or st.state not in ("RUNNING", "ABSENT") for st in states):
        raise typer.Exit(code=3)


@app.command()
def down(run_dir: RunDir = Path("run")) -> None:
    """Stop every service and supervisord."""
    from scoring.services import down as stop

    typer.echo("stopped" if stop(run_dir) else f"nothing running in {run_dir}/")


@app.command()
def reload(
    run_dir: RunDir = Path("run"),
    version: Annotated[str | None, typer.Option(
        help="Version to serve (default: the current @champion).")] = None,
) -> None:
    """Switch the running model server to the new @champion without failing a request.

    Run it after `scoring promote`: the replicas are replaced one at a time behind nginx.
    """
    from scoring.deploy import reload as run
    from scoring.services import ServiceError

    try:
        switch = run(str(run_dir), version=version, say=typer.echo)
    except ServiceError as err:
        _fail(str(err))
    if not switch.switched:
        typer.echo(f"already serving version {switch.new}")
    else:
        typer.echo(f"now serving version {switch.new} (was {', '.join(map(str, switch.old))})"
                   f" after {switch.seconds:.0f} s")


@app.command()
def drift(
    reference: Annotated[str, typer.Option(
        help="train, test, log, or a folder (prediction log, feature store, Kaggle tables).")
    ] = "train",
    current: Annotated[str, typer.Option(help="Same choices as --reference.")] = "test",
    store: Annotated[Path, typer.Option(help="Feature store folder.")] = Path("data/features"),
    prediction_log: Annotated[Path, typer.Option(help="Prediction log folder ('log').")
                              ] = Path("data/predictions"),
    top: Annotated[int, typer.Option(min=1, help="Champion's top features to compare.")] = 20,
    feature: Annotated[list[str] | None, typer.Option(
        help="Compare these features instead of the champion's top (repeatable).")] = None,
    out: Annotated[Path | None, typer.Option(help="HTML report path.")] = None,
) -> None:
    """Evidently data-drift report of the model's main features (HTML, logged to MLflow).

    Logged as a run of the experiment credit-scoring-monitoring, with the metric
    share_drifted_features. Exit code 1 when a sample cannot be read.
    """
    from training.drift import DriftConfig, DriftError, run_drift

    config = DriftConfig(reference=reference, current=current, store=store,
                         prediction_log=prediction_log, top=top, features=feature or [],
                         out=out)
    try:
        result = run_drift(config, say=typer.echo)
    except DriftError as err:
        _fail(str(err))
    typer.echo(f"{len(result.drifted)} of {len(result.table)} features drifted "
               f"({result.share:.0%}): {', '.join(result.drifted) or 'none'}")
    typer.echo(f"report: {result.report} (MLflow run {result.run_id})")


@app.command()
def systemd(
    out: Annotated[Path, typer.Option(help="Folder to write the unit files to.")
                   ] = Path("deploy/systemd"),
    run_dir: RunDir = Path("run"),
    host: Annotated[str, typer.Option(help="Interface every service binds to.")
                    ] = "127.0.0.1",
    user: Annotated[str | None, typer.Option(help="User the services run as.")] = None,
) -> None:
    """Write systemd units: the services (`scoring up --foreground`) and a daily drift timer."""
    from scoring.systemd import write_units

    settings = _settings(run_dir, host, 5000, 5001, 5006, Path("data/features"),
                         "data/predictions", 1)
    for path in write_units(settings, out, user):
        typer.echo(f"wrote {path}")
    typer.echo(f"install: sudo cp {out}/* /etc/systemd/system/ && sudo systemctl "
               "daemon-reload && sudo systemctl enable --now credit-scoring "
               "credit-scoring-drift.timer")



if __name__ == "__main__":
    app()
