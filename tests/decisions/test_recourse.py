"""decisions/recourse.py: the candidate changes (the search itself runs against the real
model server in test_api.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from decisions.recourse import MUTABLE, candidates, load_rules, money


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def _row(**changes) -> pd.Series:
    return pd.Series({"SK_ID_CURR": 1, "AMT_CREDIT": 500_000.0, "AMT_ANNUITY": 25_000.0,
                      "AMT_GOODS_PRICE": 450_000.0, "DAYS_BIRTH": -12_000,
                      "AMT_INCOME_TOTAL": 150_000.0, **changes})


def test_candidates_only_lower_the_amounts_within_the_bounds(rules):
    row = _row()
    found = candidates(row, rules)
    assert {kind.name for kind, _, _ in found} == {k.name for k in rules.kinds}
    for kind, _, changed in found:
        assert set(changed) <= set(MUTABLE) and set(changed) <= set(kind.scale)
        assert all(changed[f] < row[f] for f in changed)
        credit = changed.get("AMT_CREDIT", row["AMT_CREDIT"])
        annuity = changed.get("AMT_ANNUITY", row["AMT_ANNUITY"])
        assert credit >= rules.min_credit
        assert annuity / credit >= rules.min_annuity_credit_ratio
    both = [c for k, _, c in found if k.name == "down_payment_longer_term"]
    assert both[0]["AMT_ANNUITY"] / row["AMT_ANNUITY"] < both[0]["AMT_CREDIT"] / row["AMT_CREDIT"]


def test_no_candidate_below_the_smallest_credit_or_beyond_the_longest_term(rules):
    small = candidates(_row(AMT_CREDIT=50_000.0, AMT_GOODS_PRICE=50_000.0,
                            AMT_ANNUITY=1_250.0), rules)
    assert small and all(c["AMT_CREDIT"] >= 45_000 for _, _, c in small if "AMT_CREDIT" in c)
    # already the longest term: nothing lowers the annuity more than the credit
    assert not [k for k, _, _ in small if k.name in ("longer_term", "down_payment_longer_term")]


def test_a_missing_amount_is_left_alone(rules):
    found = candidates(_row(AMT_ANNUITY=None), rules)
    assert found and all("AMT_ANNUITY" not in c for _, _, c in found)


def test_amounts_read_as_in_each_language():
    assert money(45_000.4, "en") == "45,000"
    assert money(45_000.4, "fr") == "45\u202f000"
