"""Names shared by several packages: the registered model, its aliases, the MLflow experiments,
default ports and URLs, environment variables, and calendar constants. One place for each."""

from __future__ import annotations

import os
from pathlib import Path

#: The registered model and its aliases.
MODEL_NAME = "credit-scoring"
CHAMPION = "champion"
CHALLENGER = "challenger"
CHAMPION_URI = f"models:/{MODEL_NAME}@{CHAMPION}"

#: MLflow experiments: training runs, and monitoring reports (drift, stability).
EXPERIMENT = "credit-scoring"
MONITORING_EXPERIMENT = "credit-scoring-monitoring"

#: The tracking store is ``MLFLOW_TRACKING_URI``, else this SQLite file.
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
DEFAULT_TRACKING_DB = Path("mlruns") / "mlflow.db"

#: The feature store folder, relative to the project folder.
DEFAULT_STORE = "data/features"

#: Default ports on 127.0.0.1: the MLflow UI, the model URL (nginx), the dashboard.
TRACKING_PORT = 5000
MODEL_PORT = 5001
DASHBOARD_PORT = 5006
#: The decision service (``decisions/``), and its database unless DECISIONS_DB_URL says.
DECISIONS_PORT = 5007
DEFAULT_DECISIONS_DB_URL = "sqlite:///data/decisions.db"
DEFAULT_MODEL_URL = f"http://127.0.0.1:{MODEL_PORT}"

#: Environment variables read by the served model (prediction log) and the dashboard.
PREDICTION_LOG_ENV = "SCORING_PREDICTION_LOG"
MODEL_VERSION_ENV = "SCORING_MODEL_VERSION"

#: Calendar: the Kaggle tables count days and months back from the application.
DAYS_PER_YEAR = 365.25
DAYS_PER_MONTH = DAYS_PER_YEAR / 12


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI``, else the project's SQLite store (absolute, from the current
    folder)."""
    return os.environ.get(TRACKING_URI_ENV) or f"sqlite:///{DEFAULT_TRACKING_DB.resolve()}"
