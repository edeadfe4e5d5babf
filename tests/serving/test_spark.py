"""Batch scoring on Spark (local mode) with the champion as a Spark UDF."""

from __future__ import annotations

import importlib.util
import shutil

import mlflow
import numpy as np
import pytest

from scoring.request import pack_history
from scoring.store import read_store

pytestmark = [
    pytest.mark.slow,  # a JVM and a local Spark session
    pytest.mark.skipif(importlib.util.find_spec("pyspark") is None,
                       reason="pyspark is not installed (make setup installs the 'spark' extra)"),
    pytest.mark.skipif(shutil.which("java") is None,
                       reason="Java is not installed (make setup installs default-jre-headless)"),
]


def test_spark_scores_match_the_model_in_process(system):
    from serving.spark import local_session, score_store

    spark = local_session(cores=1, memory="1g")
    try:
        scores = score_store(spark, system.store, "models:/credit-scoring@champion"
                             ).toPandas().set_index("SK_ID_CURR")
    finally:
        spark.stop()
    rows = read_store(system.store)
    rows = rows[rows["DATASET"] == "test"]
    assert sorted(scores.index) == sorted(rows["SK_ID_CURR"])
    local = mlflow.pyfunc.load_model("models:/credit-scoring@champion").predict(
        pack_history(rows), params={"explain": "none"})
    np.testing.assert_allclose(scores.loc[rows["SK_ID_CURR"], "probability"],
                               local["probability"], rtol=1e-9)
    assert (scores.loc[rows["SK_ID_CURR"], "decision"].to_numpy()
            == local["decision"].to_numpy()).all()
