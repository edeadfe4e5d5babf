"""The typed calibration: JSON round trip, and clear errors for a malformed file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synthetic.calibration import CALIBRATION_PATH, Calibration, CalibrationError
from synthetic.marginals import Categories, Discrete, Quantiles


@pytest.fixture()
def raw() -> dict:
    return json.loads(CALIBRATION_PATH.read_text())


def test_calibration_round_trips_through_json(tmp_path: Path) -> None:
    calibration = Calibration.load()
    assert calibration.to_json() + "\n" == CALIBRATION_PATH.read_text()  # the same bytes
    calibration.save(tmp_path / "copy.json")
    assert Calibration.load(tmp_path / "copy.json") == calibration


def test_calibration_reads_as_typed_attributes() -> None:
    calibration = Calibration.load()
    bureau = calibration.tables["bureau"]
    assert isinstance(bureau.columns["CREDIT_ACTIVE"], Categories)
    assert isinstance(bureau.columns["AMT_CREDIT_SUM"], Quantiles)
    assert isinstance(calibration.tables["bureau_balance"].columns["STATUS"], Categories)
    assert isinstance(calibration.application.columns["CNT_CHILDREN"], Discrete)
    # a stratum's own marginal, or the whole table's when the stratum has none
    assert bureau.column("CREDIT_DAY_OVERDUE", "Active") is not bureau.columns[
        "CREDIT_DAY_OVERDUE"]
    assert bureau.column("CREDIT_DAY_OVERDUE", "Sold") is bureau.columns["CREDIT_DAY_OVERDUE"]
    risk = calibration.application.risk_model
    assert len(risk.features) == len(risk.coef) == len(risk.mean)
    with pytest.raises(AttributeError):
        calibration.history.bureau_per_clients  # noqa: B018 (a typo fails at once)


def test_quantile_marginal_inverts_its_own_cdf() -> None:
    m = Quantiles(missing=0.0, integral=False, p=(0.0, 0.5, 1.0), q=(0.0, 10.0, 30.0),
                  zero=0.0)
    assert m.cdf_at(10.0) == 0.5 and m.cdf_at(20.0) == 0.75
    np.testing.assert_allclose(m.inverse_cdf(np.array([0.25, 0.75])), [5.0, 20.0])


@pytest.mark.parametrize(("path", "where"), [
    (("application", "risk_model"), ".application.risk_model"),
    (("tables", "bureau", "columns", "CREDIT_ACTIVE"), ".tables.bureau.columns.CREDIT_ACTIVE"),
    ((), ""),
])
def test_an_unknown_key_is_an_error_naming_it(raw: dict, tmp_path: Path,
                                              path: tuple[str, ...], where: str) -> None:
    node = raw
    for key in path:
        node = node[key]
    node["coefs"] = [1.0]
    bad = tmp_path / "calibration.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(CalibrationError) as error:
        Calibration.load(bad)
    assert str(error.value).startswith(f"{bad}{where}: unknown key 'coefs' (expected ")


def test_missing_keys_wrong_types_and_unknown_tables_are_errors(raw: dict) -> None:
    history = dict(raw["history"])
    del raw["history"]["cc_per_card"]
    with pytest.raises(CalibrationError, match=r"calibration\.history: missing key 'cc_per_card'"):
        Calibration.from_json(json.dumps(raw))
    raw["history"] = {**history, "clients": "many"}
    with pytest.raises(CalibrationError, match=r"history\.clients: expected int, got 'many'"):
        Calibration.from_json(json.dumps(raw))
    raw["history"] = history
    raw["tables"]["bureua"] = raw["tables"].pop("bureau")
    with pytest.raises(CalibrationError, match=r"calibration\.tables: has .*bureua.*; expected"):
        Calibration.from_json(json.dumps(raw))
