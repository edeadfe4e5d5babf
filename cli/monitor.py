"""Monitoring commands: data drift of the applications the model sees."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import fail, sub_app
from scoring.names import DEFAULT_STORE

app = sub_app("Monitoring: drift and stability reports.")


@app.command()
def drift(
    reference: Annotated[str, typer.Option(
        help="train, test, log, or a folder (prediction log, feature store, Kaggle tables).")
    ] = "train",
    current: Annotated[str, typer.Option(help="Same choices as --reference.")] = "test",
    store: Annotated[Path, typer.Option(help="Feature store folder.")] = Path(DEFAULT_STORE),
    prediction_log: Annotated[Path, typer.Option(help="Prediction log folder ('log').")
                              ] = Path("data/predictions"),
    top: Annotated[int, typer.Option(min=1, help="Champion's top features to compare.")] = 20,
    feature: Annotated[list[str] | None, typer.Option(
        help="Compare these features instead of the champion's top (repeatable).")] = None,
    out: Annotated[Path | None, typer.Option(help="HTML report path.")] = None,
) -> None:
    """Evidently data-drift report of the model's main features (HTML, logged to MLflow).

    Logged as a run of the experiment credit-scoring-monitoring, with the metric
    share_drifted_features, the champion score's population stability index psi_score and
    each feature's csi_<feature> (below 0.1 stable, 0.1-0.25 moderate, above 0.25
    significant). Exit code 1 when a sample cannot be read.
    """
    from monitoring.drift import DriftConfig, DriftError, run_drift

    config = DriftConfig(reference=reference, current=current, store=store,
                         prediction_log=prediction_log, top=top, features=feature or [],
                         out=out)
    try:
        result = run_drift(config, say=typer.echo)
    except DriftError as err:
        fail(str(err))
    typer.echo(f"{len(result.drifted)} of {len(result.table)} features drifted "
               f"({result.share:.0%}): {', '.join(result.drifted) or 'none'}")
    from scoring.stability import BANDS

    ix = result.stability.set_index("column")
    if "score" in ix.index:
        typer.echo(f"score PSI {ix.loc['score', 'index']:.3f} ({ix.loc['score', 'band']})")
    shifted = ix[(ix["band"] != "stable") & (ix.index != "score")]
    typer.echo(f"CSI at least {BANDS[0]} (moderate) or {BANDS[1]} (significant): "
               + (", ".join(f"{c} {v:.3f}" for c, v in shifted["index"].items()) or "none"))
    typer.echo(f"report: {result.report} (MLflow run {result.run_id})")
