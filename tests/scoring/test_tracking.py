"""Where MLflow keeps things: store files, artifact roots and model URIs (no store opened)."""

from __future__ import annotations

from pathlib import Path

from scoring import tracking
from scoring.names import CHAMPION_URI, MODEL_NAME


def test_an_sqlite_store_keeps_its_artifacts_beside_the_database():
    uri = "sqlite:////srv/mlruns/mlflow.db"
    assert tracking.sqlite_file(uri) == Path("/srv/mlruns/mlflow.db")
    assert tracking.artifacts_root(uri) == Path("/srv/mlruns/artifacts")
    assert tracking.sqlite_file("http://127.0.0.1:5000") is None
    assert tracking.artifacts_root("postgresql://db/mlflow") is None  # the server's own


def test_model_uris_name_a_version_or_an_alias():
    assert tracking.model_uri(3) == f"models:/{MODEL_NAME}/3"
    assert tracking.alias_uri("champion") == CHAMPION_URI
    assert tracking.model_version(tracking.model_uri("12")) == "12"
    assert tracking.model_version("runs:/abc/model") is None
    assert tracking.model_version("models:/credit-scoring/latest") is None
