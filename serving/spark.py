"""Batch scoring on Apache Spark: the champion as a Spark UDF (``mlflow.pyfunc.spark_udf``).

The same pyfunc as the model server and ``serving/batch.py``, run on every partition of a Spark
DataFrame of store rows, so a cluster scores millions of applications with the same numbers.
Needs the ``spark`` extra (``uv sync --extra spark``) and Java 17+; tested in local mode.

    spark = local_session()
    scores = score_store(spark, "data/features", "models:/credit-scoring@champion")
    scores.write.parquet("data/scores.parquet")
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from scoring.schema import KEY
from scoring.store import store_path

#: The UDF's result: the served model's columns without the reasons (``explain="none"``).
RESULT_TYPE = "probability double, decision string, threshold double, distance double"


def local_session(cores: int = 2, memory: str = "2g") -> Any:
    """A local-mode SparkSession (for tests and a single machine).

    Its Python workers run this interpreter, so they see the project's packages.
    """
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (SparkSession.builder.master(f"local[{cores}]").appName("credit-scoring")
            .config("spark.driver.memory", memory)
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.ui.enabled", "false")
            .getOrCreate())


def scoring_udf(spark: Any, model_uri: str) -> Any:
    """The model as a Spark UDF returning ``RESULT_TYPE`` per application."""
    import mlflow

    return mlflow.pyfunc.spark_udf(spark, model_uri, result_type=RESULT_TYPE,
                                   env_manager="local", params={"explain": "none"})


def score_frame(frame: Any, udf: Any, inputs: list[str]) -> Any:
    """``SK_ID_CURR, probability, decision`` for every row of a Spark DataFrame of store rows."""
    from pyspark.sql import functions as fn

    from scoring.features import HISTORY_FEATURES
    from scoring.request import HISTORY

    columns = [fn.col(c) for c in inputs if c in frame.columns]
    history = [fn.col(c) for c in HISTORY_FEATURES if c in frame.columns]
    if HISTORY in inputs and history:  # the history travels as one JSON object
        columns.append(fn.to_json(fn.struct(*history)).alias(HISTORY))
    scored = frame.withColumn("score", udf(fn.struct(*columns)))
    return scored.select(KEY, "score.probability", "score.decision")


def score_store(spark: Any, store: Path | str, model_uri: str, dataset: str | None = "test",
                ) -> Any:
    """Score the feature store's clients (only ``dataset`` ones unless None) on Spark."""
    import mlflow
    from pyspark.sql import functions as fn

    from scoring.names import tracking_uri

    frame = spark.read.parquet(str(store_path(store)))
    if dataset is not None:
        frame = frame.filter(fn.col("DATASET") == dataset)
    inputs = _model_inputs(model_uri)
    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_registry_uri(tracking_uri())
    return score_frame(frame, scoring_udf(spark, model_uri), inputs)


def _model_inputs(model_uri: str) -> list[str]:
    """The fields of one application the model takes (its signature is typed by
    ``scoring.request.Application``: raw application fields and the ``history`` object)."""
    from scoring.request import Application

    return list(Application.model_fields)
