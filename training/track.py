"""What training writes to MLflow: runs, model logging, registry, model cards.

Where the store is and how experiments and model URIs are named is ``scoring.tracking``'s (the
monitoring runs use it too). The tracking store is an SQLite file under ``mlruns/`` unless
``MLFLOW_TRACKING_URI`` is set (for example a server backed by PostgreSQL). Nothing happens at
import.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scoring.names import (  # noqa: F401 (re-exported for the callers of track)
    CHALLENGER,
    CHAMPION,
    DEFAULT_TRACKING_DB,
    EXPERIMENT,
    MODEL_NAME,
    TRACKING_URI_ENV,
)
from scoring.tracking import (  # noqa: F401 (re-exported for the callers of track)
    alias_version,
    configure,
    default_store,
    log_table,
    model_version,
)

MODEL_CODE = Path(__file__).resolve().parents[1] / "serving" / "model.py"
#: The name of the training data set logged with each run (``mlflow.data``), as the card shows it.
DATASET_NAME = "clients"
#: What the logged model ships besides its code: the core package, and the prediction log
#: (imported as ``predlog`` where the project itself is not installed).
CODE_PATHS = [Path(__file__).resolve().parents[1] / "scoring",
              Path(__file__).resolve().parents[1] / "serving" / "predlog.py"]


def pip_requirements() -> list[str]:
    """The served model's requirements, pinned to the versions training ran with.

    Given explicitly because inferring them costs seconds per logged model.
    """
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in
            ("mlflow", "lightgbm", "pandas", "numpy", "scipy", "polars", "pyarrow")]


def set_alias(alias: str, version: str, name: str = MODEL_NAME) -> None:
    from mlflow import MlflowClient

    MlflowClient().set_registered_model_alias(name, alias, version)


def log_figures(figures: dict[str, Any]) -> None:
    """Log matplotlib figures as PNG artifacts under ``plots/`` and close them."""
    import matplotlib.pyplot as plt
    import mlflow

    for name, fig in figures.items():
        mlflow.log_figure(fig, f"plots/{name}.png")
        plt.close(fig)


def input_example(rows: Any, threshold: float) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The logged model's input example: one application as an ``/invocations`` request holds
    it (``scoring.request.to_inputs``), and the params with their defaults (the threshold
    default is the model's own; ``variants`` empty: no variants; ``recourse`` off; reasons
    as records).

    The model's signature comes from the type hint of its ``predict`` (a list of
    ``scoring.request.Application``: every field, its type, required or not); its params
    schema from these params. Serving then hands the ``inputs`` to the model as they are,
    without MLflow's per-column parsing and checks: the model checks them once.
    """
    from scoring.request import to_inputs

    return to_inputs(rows), {"explain": "top-k", "top_k": 10, "threshold": float(threshold),
                             "variants": "", "recourse": False, "reasons_shape": "records"}


def log_model(booster_file: Path, config_file: Path, example: Any):
    """Log the pyfunc model (code in ``serving/model.py``) with its artifacts; returns its info."""
    import mlflow

    with warnings.catch_warnings():  # validation is the model's own (read_request)
        warnings.filterwarnings("ignore", message=".*@mlflow.pyfunc.utils.pyfunc.*")
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=str(MODEL_CODE),
            artifacts={"booster": str(booster_file), "config": str(config_file)},
            code_paths=[str(p) for p in CODE_PATHS],
            input_example=example,
            pip_requirements=pip_requirements(),
        )


def register(model_uri: str, run_id: str) -> str:
    """Register the model as a new version of ``credit-scoring``, without an alias yet (the
    run gives it ``challenger`` once its card is logged)."""
    import mlflow

    return mlflow.register_model(model_uri, MODEL_NAME, tags={"run_id": run_id}).version


@contextmanager
def start_run(config: Any, sizes: dict[str, Any], labelled: Any, source: Path,
              ) -> Iterator[str]:
    """A run with the config as params and the training data's identity; yields its id.

    On an exception the run is marked FAILED and nothing is registered.
    """
    import dataclasses

    import mlflow

    with mlflow.start_run() as run:
        given = run.data.params  # `mlflow run` has logged the entry point's own spelling
        mlflow.log_params({k: str(v) for k, v in dataclasses.asdict(config).items()
                           if k not in given})
        mlflow.log_params(sizes)
        mlflow.log_param("default_rate", round(float(labelled["TARGET"].mean()), 5))
        with warnings.catch_warnings():  # MLflow's hints on guessing a schema do not apply
            warnings.simplefilter("ignore", UserWarning)
            data = mlflow.data.from_pandas(labelled, source=str(source.resolve()),
                                           name=DATASET_NAME, targets="TARGET")
            mlflow.log_input(data, context="training")
        yield run.info.run_id


def log_candidate(name: str, params: dict[str, Any], scores: dict[str, float],
                  seconds: float) -> None:
    """One candidate as a nested run: its params and out-of-fold (OOF) metrics."""
    import mlflow

    with mlflow.start_run(run_name=name, nested=True):
        mlflow.log_params({k: str(v) for k, v in params.items()})
        mlflow.log_metrics({**{f"oof_{k}": v for k, v in scores.items()},
                            "cv_seconds": seconds})
    mlflow.log_metric(f"{name}_oof_roc_auc", scores["roc_auc"])
    mlflow.log_metric(f"{name}_oof_business_cost", scores["business_cost"])


def log_trial(number: int, auc: float) -> None:
    """One hyperparameter trial: its mean CV ROC AUC as a step of the parent run."""
    import mlflow

    mlflow.log_metric("search_cv_roc_auc", auc, step=number)


def log_params(values: dict[str, Any]) -> None:
    import mlflow

    mlflow.log_params({k: str(v) for k, v in values.items()})


def set_tags(values: dict[str, str]) -> None:
    """Tag the active run."""
    import mlflow

    mlflow.set_tags(values)


def log_metrics(values: dict[str, float]) -> None:
    import mlflow

    mlflow.log_metrics(values)


def evaluate_gate(challenger: str, champion: str, frames: dict[str, Any],
                  metrics: dict[str, list], checks: list[Any]) -> tuple[str, bool, str]:
    """The promotion run: ``mlflow.models.evaluate`` of each model's predictions on the gate
    clients (a nested run each, ``frames`` and ``metrics`` by role), then
    ``mlflow.validate_evaluation_results`` of the challenger against the champion with the
    ``checks``' thresholds. Returns (run id, passed, MLflow's message on a failure)."""
    import mlflow
    from mlflow.models import MetricThreshold
    from mlflow.models.evaluation.validation import ModelValidationFailedException

    results = {}
    with mlflow.start_run(run_name=f"promote v{challenger}") as run:
        mlflow.set_tag("kind", "promotion")
        mlflow.log_params({"challenger": challenger, "champion_before": champion})
        for role, frame in frames.items():
            with mlflow.start_run(run_name=f"gate {role}", nested=True), \
                    warnings.catch_warnings():
                warnings.simplefilter("ignore")  # MLflow's schema hints do not apply here
                results[role] = mlflow.models.evaluate(
                    data=frame, predictions="probability", targets="TARGET",
                    extra_metrics=metrics[role])
            mlflow.log_metrics({f"{role}_{k}": v for k, v in results[role].metrics.items()
                                if v == v})
        measured = results["challenger"].metrics
        # A metric MLflow could not measure (NaN, e.g. no group approved at all) is judged by
        # the check itself (``Check.passed``), not handed to the validation.
        thresholds = {c.name: MetricThreshold(threshold=c.threshold,
                                              greater_is_better=c.greater_is_better)
                      for c in checks if c.threshold == c.threshold
                      and _known(measured.get(c.name))}
        mlflow.log_metrics({f"gate_threshold_{c.name}": c.threshold for c in checks
                            if c.threshold == c.threshold})
        unmeasured = [c.name for c in checks if c.name not in thresholds and not c.passed]
        try:
            mlflow.validate_evaluation_results(thresholds, results["challenger"],
                                               results["champion"])
        except ModelValidationFailedException as err:
            return run.info.run_id, False, str(err)
        if unmeasured:
            return run.info.run_id, False, f"not measurable: {', '.join(unmeasured)}"
    return run.info.run_id, True, ""


def _known(value: float | None) -> bool:
    return value is not None and value == value  # NaN != NaN


def log_promotion(challenger: str, champion: str | None, promoted: bool, reason: str,
                  new: dict[str, float], old: dict[str, float] | None,
                  run_id: str | None = None) -> None:
    """Record a promotion decision as a run (``run_id``: the gate's run, resumed), and as tags
    on the challenger version."""
    import mlflow
    from mlflow import MlflowClient

    with mlflow.start_run(run_id=run_id, run_name=f"promote v{challenger}"):
        mlflow.set_tags({"kind": "promotion", "promoted": str(promoted), "reason": reason,
                         "forced": str(reason.startswith("forced"))})
        if run_id is None:
            mlflow.log_params({"challenger": challenger, "champion_before": champion or "none"})
        mlflow.log_metrics({f"challenger_{k}": v for k, v in new.items() if v == v})
        if old:
            mlflow.log_metrics({f"champion_{k}": v for k, v in old.items() if v == v})
    client = MlflowClient()
    client.set_model_version_tag(MODEL_NAME, challenger, "promotion",
                                 ("promoted: " if promoted else "refused: ") + reason)


def code_version() -> str:
    """The git commit of the code that runs (``+dirty`` when files differ), or ``unknown``."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], check=True,
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"], check=True, capture_output=True,
                               text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def dataset_digest(run_id: str) -> str:
    """The digest of the training dataset logged with a run (``mlflow.data``)."""
    import mlflow

    inputs = mlflow.get_run(run_id).inputs
    return inputs.dataset_inputs[0].dataset.digest if inputs and inputs.dataset_inputs else ""


def log_assessment(assessment: Any, prefix: str = "") -> None:
    """Metrics, fairness table (CSV + HTML page), calibration deciles and reliability diagram
    of a ``governance.Assessment``."""
    import math

    import mlflow

    from training import fairness, plots

    mlflow.log_metrics({f"{prefix}{k}": v for k, v in assessment.metrics.items()
                        if not math.isnan(v)})
    mlflow.log_metrics({f"{prefix}{k}_{end}": v[i] for k, v in assessment.intervals.items()
                        for i, end in enumerate(("low", "high"))})
    log_table(assessment.fairness, "fairness.csv")
    log_table(assessment.deciles, "calibration_deciles.csv")
    mlflow.log_text(fairness.to_html(assessment.fairness), "fairness.html")
    log_figures({"reliability_diagram": plots.reliability_diagram(assessment.deciles)})


def log_recipe(recipe: dict[str, Any]) -> None:
    """What the promotion gate needs to cross-validate this run's recipe again on other folds
    (features, LightGBM parameters, calibration, costs), as ``recipe.json``."""
    import json

    import mlflow

    mlflow.log_text(json.dumps(recipe, indent=1, default=lambda v: v.item()), "recipe.json")


def load_recipe(run_id: str) -> dict[str, Any] | None:
    """A run's ``recipe.json``, or None when it has none (runs older than the gate)."""
    import json

    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        path = MlflowClient().download_artifacts(run_id, "recipe.json")
    except (MlflowException, OSError):
        return None
    return json.loads(Path(path).read_text())


def log_card(markdown_text: str, html: str) -> None:
    """The model card, as ``model_card.md`` and ``model_card.html``."""
    import mlflow

    mlflow.log_text(markdown_text, "model_card.md")
    mlflow.log_text(html, "model_card.html")


def card_text(version: str | None = None, alias: str = CHAMPION) -> tuple[str, str]:
    """The Markdown card of a registered version (default: the one carrying ``alias``), and
    the version. Raises LookupError when there is no such version or it has no card."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    version = version or alias_version(alias)
    if version is None:
        raise LookupError(f"no @{alias} version of {MODEL_NAME}")
    client = MlflowClient()
    try:
        run_id = client.get_model_version(MODEL_NAME, version).run_id
        path = client.download_artifacts(run_id, "model_card.md")
    except MlflowException as err:
        raise LookupError(f"{MODEL_NAME} version {version}: no model card "
                          f"({str(err).splitlines()[0]})") from None
    return Path(path).read_text(), str(version)


def log_protected(left_out: Any, dropped: list[str]) -> None:
    """Which protected attributes the model leaves out, and the features that go with them."""
    import mlflow

    names = ",".join(p.name for p in left_out) or "none"
    mlflow.log_params({"protected_excluded": names,
                       "protected_excluded_features": ",".join(dropped) or "none"})
    mlflow.set_tag("protected_excluded", names)
