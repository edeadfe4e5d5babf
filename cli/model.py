"""Model commands: train, promote, serve, score in batch, and the stand-alone dashboard."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.common import DataDir, Host, RunDir, fail, number, sub_app
from scoring.names import (
    CHAMPION_URI,
    DASHBOARD_PORT,
    DEFAULT_MODEL_URL,
    DEFAULT_STORE,
    MODEL_PORT,
    MODEL_VERSION_ENV,
)
from training.config import TrainConfig

#: `scoring train`'s defaults: the training run's own (MLproject passes other values through).
DEFAULTS = TrainConfig()

app = sub_app("Model: train, promote, serve, score.")


@app.command()
def train(
    store: Annotated[Path, typer.Option(help="Feature store folder (from `scoring features`).")
                     ] = DEFAULTS.store,
    folds: Annotated[int, typer.Option(
        min=2, help="Stratified cross-validation folds over every labelled client.")
    ] = DEFAULTS.folds,
    test_share: Annotated[str, typer.Option(
        help="Share of labelled clients kept out of everything (CV, calibration, threshold, "
             "refit) as a test part, e.g. 0.1; 'auto': none below 100,000 clients (the "
             "out-of-fold metrics already estimate unseen clients), 0.1 from there on.")
    ] = "auto",
    trials: Annotated[int, typer.Option(
        min=0, help="LightGBM search trials, each a full CV, scored by the mean CV ROC AUC "
                    "(0: defaults).")] = DEFAULTS.trials,
    timeout: Annotated[float, typer.Option(help="Time budget of the search, seconds.")
                       ] = DEFAULTS.timeout,
    seed: Annotated[int, typer.Option(help="Seed of the folds, the test part and the search.")
                    ] = DEFAULTS.seed,
    fn_cost: Annotated[float, typer.Option(help="Cost of granting a loan that defaults.")
                       ] = DEFAULTS.fn_cost,
    fp_cost: Annotated[float, typer.Option(help="Cost of refusing a client who would repay.")
                       ] = DEFAULTS.fp_cost,
    class_weight: Annotated[str, typer.Option(
        help="Class imbalance: 'none' (the cost-based threshold handles it) or 'balanced'.")
    ] = DEFAULTS.class_weight,
    calibrate: Annotated[bool, typer.Option(
        help="Calibrate probabilities: Platt, isotonic or none, whichever gives the lowest "
             "cross-fitted out-of-fold Brier score.")] = DEFAULTS.calibrate,
    monotone: Annotated[bool, typer.Option(
        help="LightGBM monotone constraints: external scores never raise the risk, days past "
             "due and debt ratios never lower it (explanations a client can follow). On the "
             "24,587 real labelled clients they lowered the cross-fitted business cost by "
             "0.009 per application (paired 95 % interval -0.016 to -0.002), hence on by "
             "default; about 25 % more training CPU.")] = DEFAULTS.monotone,
    threads: Annotated[int, typer.Option(help="LightGBM threads (0: all cores).")
                       ] = DEFAULTS.num_threads,
    register: Annotated[bool, typer.Option(
        help="Register the model as a new version with alias challenger.")
    ] = DEFAULTS.register,
    param: Annotated[list[str] | None, typer.Option(
        help="Fixed LightGBM parameter NAME=VALUE, applied after the search (repeatable).")
    ] = None,
    use_protected: Annotated[list[str] | None, typer.Option(
        help="Let the model read a protected attribute it leaves out by default: gender "
             "(CODE_GENDER) or family_status (NAME_FAMILY_STATUS); logged (repeatable).")
    ] = None,
    exclude_protected: Annotated[list[str] | None, typer.Option(
        "--drop-protected", help="Also leave out a protected attribute read by default: age "
                                 "(DAYS_BIRTH and every feature computed from it) (repeatable).")
    ] = None,
    cluster: Annotated[str, typer.Option(
        help="Dask scheduler address (e.g. tcp://10.0.0.5:8786): LightGBM's folds and refit "
             "are boosted there by lightgbm.dask; the rest of the run is the same "
             "(docs: guides/large-portfolios.md). Needs the dask extra.")] = "",
    cluster_rounds: Annotated[int, typer.Option(
        min=1, help="With --cluster: rounds each fold is boosted to (Dask has no early "
                    "stopping; the rounds are chosen afterwards on the held-out AUC).")] = 2000,
    max_rounds: Annotated[int, typer.Option(
        min=1, help="Most LightGBM boosting rounds of the cross-validation (it stops sooner "
                    "when the mean held-out AUC stops improving); the refit then boosts the "
                    "chosen rounds x folds / (folds - 1). A cap on the training time of a large "
                    "portfolio, at some AUC when the cap is reached (the run logs cv_rounds).")
    ] = DEFAULTS.max_rounds,
) -> None:
    """Cross-validate candidates, refit LightGBM and register it as @challenger (MLflow).

    Candidates, compared in MLflow: a prior-rate baseline, a logistic regression and LightGBM
    (rounds chosen on the mean held-out AUC of the folds, optional Optuna search), each scored
    by the same stratified folds. Reported metrics come from the out-of-fold predictions of
    every client, with bootstrap 95 % intervals. The threshold minimises fn_cost x FN + fp_cost
    x FP over them. The registered model is refit on every labelled client (but the test part)
    for the CV rounds x folds / (folds - 1). The search maximises AUC rather than the cost: the
    cost at the best threshold is a step function of a few hundred borderline clients, noisier
    from trial to trial, while AUC ranks every client and the threshold is set afterwards.

    Protected attributes (scoring/protected.py) are left out of the inputs unless
    --use-protected says otherwise; the run logs fairness per group of each of them, the
    calibration and the stability of the score on the out-of-fold (or test) predictions, and a
    model card (`scoring card`).
    Tracking store: mlruns/mlflow.db unless MLFLOW_TRACKING_URI is set. A failed run never
    changes an alias.
    """
    from training.run import train as run

    if class_weight not in ("none", "balanced"):
        fail(f"--class-weight must be 'none' or 'balanced', got {class_weight!r}")
    share = None
    if test_share != "auto":
        try:
            share = float(test_share)
        except ValueError:
            fail(f"--test-share must be 'auto' or a number, got {test_share!r}")
        if not 0 <= share < 0.5:
            fail(f"--test-share must be in [0, 0.5), got {test_share}")
    overrides = {}
    for item in param or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            fail(f"--param expects NAME=VALUE, got {item!r}")
        overrides[name] = number(value)
    from scoring.protected import excluded

    try:
        excluded(use_protected or [], exclude_protected or [])
    except ValueError as err:
        fail(str(err))
    config = TrainConfig(store=store, seed=seed, folds=folds, test_share=share, trials=trials,
                         timeout=timeout, fn_cost=fn_cost, fp_cost=fp_cost,
                         class_weight=class_weight, calibrate=calibrate, monotone=monotone,
                         num_threads=threads, register=register, lgbm_params=overrides,
                         use_protected=use_protected or [],
                         exclude_protected=exclude_protected or [],
                         command=" ".join(["scoring", *sys.argv[1:]]),
                         cluster=cluster, cluster_rounds=cluster_rounds,
                         max_rounds=max_rounds)
    from scoring.tables import DataError

    try:
        result = run(config, say=typer.echo)
    except (FileNotFoundError, DataError) as err:
        fail(str(err))
    m = result.metrics
    typer.echo(f"out-of-fold ROC AUC {m['oof_roc_auc']:.4f}, business cost "
               f"{m['oof_business_cost']:.4f} per application at threshold "
               f"{m['oof_threshold']:.3f} (run {result.run_id})")


@app.command()
def promote(
    store: Annotated[Path, typer.Option(
        help="Feature store folder holding the challenger's test clients, when it has some.")
    ] = Path(DEFAULT_STORE),
    force: Annotated[bool, typer.Option(help="Promote even if the challenger is worse.")
                     ] = False,
    reason: Annotated[str | None, typer.Option(help="Why (required with --force; logged).")
                      ] = None,
    switch: Annotated[bool, typer.Option(
        help="When `scoring up` services run, switch them to the new champion.")] = True,
    run_dir: RunDir = Path("run"),
) -> None:
    """Move @champion to @challenger if it passes the gate (training/gate.toml).

    Both models are judged on the same clients, unseen by both: their out-of-fold predictions
    under the same folds when both runs cross-validated the same data with the same folds,
    seed and costs; else the test clients both runs held out; else the champion's recipe is
    cross-validated again on the challenger's folds. mlflow.models.evaluate computes ROC AUC
    (not lower beyond paired-bootstrap noise), business cost (not higher), the lowest
    adverse-impact ratio of the protected groups (at least 0.8, or the champion's) and the
    calibration error (bounded); each check is printed with its value and verdict. Exit code
    2 when refused; --force --reason overrides, logged.
    When the services of `scoring up` are running, the model server then switches to the new
    champion without failing a request (as `scoring reload`).
    """
    from training.promote import PromotionError
    from training.promote import promote as run

    try:
        decision = run(store, force=force, reason=reason)
    except PromotionError as err:
        fail(str(err))
    for check in decision.checks:
        typer.echo(check.line())
    verb = "promoted" if decision.promoted else "refused"
    typer.echo(f"{verb}: version {decision.challenger} "
               f"(champion was {decision.champion or 'none'}): {decision.reason}")
    if not decision.promoted:
        raise typer.Exit(code=2)
    from cli.ops import reload
    from ops.supervisor import supervisor_running

    if switch and decision.champion != decision.challenger and supervisor_running(run_dir):
        typer.echo("services are up: switching the model server to the new champion")
        reload(run_dir, version=decision.challenger)


@app.command()
def card(
    version: Annotated[str | None, typer.Argument(help="Model version (default: @champion).")
                       ] = None,
    html: Annotated[Path | None, typer.Option(help="Write the HTML card to this file.")] = None,
) -> None:
    """Print the model card of a version (Markdown), or write it as HTML with --html."""
    from training import track
    from training.card import to_html

    track.configure()
    try:
        text, version = track.card_text(version)
    except LookupError as err:
        fail(str(err))
    if html is None:
        typer.echo(text)
        return
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(to_html(text))
    typer.echo(f"wrote the card of version {version} to {html}")


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port of the model server.")] = MODEL_PORT,
    host: Host = "127.0.0.1",
    model: Annotated[str, typer.Option(help="Model URI to serve.")
                     ] = CHAMPION_URI,
) -> None:
    """Serve a registered model on /invocations with the stock `mlflow models serve`.

    Also answers /ping, /health and /version. Runs in the foreground; Ctrl-C stops it.
    """
    import os
    import shutil
    import sys

    from ops.settings import is_loopback
    from training import track

    if not is_loopback(host):  # a service beyond loopback never starts without a login
        fail(f"--host {host}: the model server has no login of its own, so it serves loopback "
             "only; beyond it, other systems score through the decision service, which checks "
             "who calls (`scoring up --host ...`)")
    env = {**os.environ, "MLFLOW_TRACKING_URI": track.configure()}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if version := track.model_version(model):  # answers then carry the version served
        env[MODEL_VERSION_ENV] = version
    mlflow_bin = shutil.which("mlflow", path=env["PATH"]) or "mlflow"
    command = [mlflow_bin, "models", "serve", "-m", model, "--env-manager", "local",
               "-h", host, "-p", str(port)]
    typer.echo(" ".join(command))
    os.execve(mlflow_bin, command, env)


@app.command()
def dashboard(
    port: Annotated[int, typer.Option(help="Port of the dashboard.")] = DASHBOARD_PORT,
    host: Host = "127.0.0.1",
    model_url: Annotated[str, typer.Option(help="URL of the model server (`scoring serve`).")
                         ] = DEFAULT_MODEL_URL,
    store: Annotated[Path, typer.Option(help="Feature store folder.")] = Path(DEFAULT_STORE),
    sample: Annotated[int, typer.Option(help="Clients scored once for the bivariate plot.")
                      ] = 20_000,
    users_file: Annotated[Path | None, typer.Option(
        envvar="DASHBOARD_USERS_FILE", help="Log people in against this users file (`scoring "
        "users add`); without it there is no login, and only loopback is allowed.")] = None,
    cookie_secret: Annotated[str | None, typer.Option(
        envvar="DASHBOARD_COOKIE_SECRET", help="Secret signing the login cookie (random when "
        "not given: logins then end with the server).")] = None,
    decisions_key_file: Annotated[Path | None, typer.Option(
        envvar="DASHBOARD_DECISIONS_KEY_FILE", help="With login: the file holding the "
        "dashboard's API key at the decision service (`scoring users key dashboard "
        "--act-for-users`).")] = None,
    lang: Annotated[str, typer.Option(envvar="DASHBOARD_LANG",
                                      help="Language of the pages: fr or en (?lang= on a "
                                           "page switches).")] = "fr",
    decisions_url: Annotated[str, typer.Option(
        envvar="DASHBOARD_DECISIONS_URL", help="The decision service (records the advisors' "
        "decisions); empty: none.")] = "",
    advisor: Annotated[str, typer.Option(
        envvar="DASHBOARD_ADVISOR", help="Without login only (loopback development): the one "
        "advisor id at the decision service (password: DASHBOARD_ADVISOR_PASSWORD).")] = "",
) -> None:
    """Serve the advisor dashboard (Panel) on http://HOST:PORT/app.

    Scores come from the model server; the champion's card from the MLflow registry. With
    --users-file people log in (advisors, supervisors, clients) and decisions name them.
    """
    import os
    import secrets
    import shutil
    import sys

    from ops.render import LOGIN_MODULE
    from ops.settings import is_loopback
    from training import track

    env = {**os.environ, "MLFLOW_TRACKING_URI": track.configure()}
    panel = shutil.which("panel", path=str(Path(sys.executable).parent)) or "panel"
    app_file = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
    command = [panel, "serve", str(app_file), "--port", str(port), "--address", host,
               "--allow-websocket-origin", f"{host}:{port}", "--warm"]
    if users_file:
        command += ["--auth-module", str(LOGIN_MODULE),
                    "--cookie-secret", cookie_secret or secrets.token_hex(32)]
        env |= {"DASHBOARD_USERS_FILE": str(users_file.resolve()),
                "DASHBOARD_DECISIONS_KEY_FILE": str(decisions_key_file or "")}
    elif not is_loopback(host):
        fail(f"--host {host}: beyond loopback the dashboard needs a login (--users-file)")
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
                     ] = CHAMPION_URI,
) -> None:
    """Score every application_test row of a folder in batch: SK_ID_CURR, probability, decision.

    Applications the model refuses (a value outside its plausible range) are set aside in
    `OUT.not-scored.csv` (SK_ID_CURR, field, problem); every other one is scored.
    """
    from mlflow.exceptions import MlflowException

    from scoring.tables import DataError
    from serving.batch import score_folder
    from training import track

    track.configure()
    try:
        batch = score_folder(data_dir, model, say=typer.echo)
    except (DataError, MlflowException) as err:
        fail(str(err).rsplit("Error: ", 1)[-1])
    out.parent.mkdir(parents=True, exist_ok=True)
    scores = batch.scores
    scores.to_csv(out, index=False)
    refused = (scores["decision"] == "refused").mean() if len(scores) else 0.0
    typer.echo(f"wrote {len(scores):,} scores to {out} ({refused:.1%} refused)")
    aside = out.with_name(f"{out.stem}.not-scored.csv")
    aside.unlink(missing_ok=True)
    if len(batch.not_scored):
        batch.not_scored.to_csv(aside, index=False)
        first = batch.not_scored.iloc[0]
        typer.echo(f"{len(batch.not_scored):,} applications not scored, the model refused "
                   f"them: {aside} (first: {first['SK_ID_CURR']}, {first['problem']})")
