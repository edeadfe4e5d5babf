"""Shared fixtures: paths, and the real Kaggle samples when they are present."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = ROOT.parent / "shared" / "data" / "homecredit"


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The folder of real Home Credit samples; skips the test when it is absent."""
    if not (REAL_DATA / "application_train.csv.gz").is_file():
        pytest.skip(f"real Home Credit samples not found at {REAL_DATA}")
    return REAL_DATA
