"""Batches the model server partly refuses: the refused rows are left out, the others
scored, whatever the refusal says (no server: the stand-in scorer of conftest.py)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dashboard.refusals import refused_rows_dropped, score_accepted
from scoring.request import RequestError
from serving.client import ScoringError, parse_error


def test_refused_sample_rows_are_left_out(rows):
    """The model server's refusal, parsed once from its JSON, says which rows to leave out."""
    outside = RequestError("AMT_INCOME_TOTAL", "outside_range", "...", value=200000.0,
                           low=0.0, high=160000.0)
    body = json.dumps({"error_code": "INVALID_PARAMETER_VALUE",
                       "message": f"Failed to predict. Error: {outside.to_json()}"})
    message, parsed = parse_error(body)
    assert parsed == outside and message == "..."
    assert refused_rows_dropped(rows, parsed)["SK_ID_CURR"].tolist() == [100002, 100003]
    unknown = RequestError("NAME_INCOME_TYPE", "unknown_level", "...", value="Pensioner")
    assert len(refused_rows_dropped(rows, unknown)) == 2
    missing = RequestError("AMT_GOODS_PRICE", "missing", "...")
    assert len(refused_rows_dropped(rows, missing)) == 2
    assert refused_rows_dropped(rows, RequestError(None, "no_rows", "...")) is None
    assert refused_rows_dropped(rows, None) is None


class Unexplained:
    """Refuses any batch holding client 100002 without saying which row (a 400 whose error
    names no field), and scores the others through ``inner``."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls = 0

    def score(self, rows: pd.DataFrame, explain: str = "top-k"):
        self.calls += 1
        if 100002 in set(rows["SK_ID_CURR"]):
            raise ScoringError("refused", 400, RequestError(None, "invalid", "refused"))
        return self.inner.score(rows, explain=explain)


def test_a_refusal_naming_no_row_is_narrowed_down_by_halves(scorer, rows):
    refusing = Unexplained(scorer)
    kept, scores = score_accepted(refusing, rows, local=("TARGET", "DATASET"))
    assert kept["SK_ID_CURR"].tolist() == [100001, 100003]
    assert [s.client_id for s in scores] == [100001, 100003]
    assert refusing.calls == 5  # all 3, then [100001] and [100002, 100003], then each half
    assert "TARGET" not in scorer.calls[0].columns  # local columns are not sent


def test_a_refusal_naming_rows_drops_them_in_one_more_request(scorer, rows):
    bad = rows.assign(AMT_INCOME_TOTAL=[200_000.0, -1.0, -5.0])
    kept, scores = score_accepted(scorer, bad, local=("TARGET", "DATASET"))
    assert kept["SK_ID_CURR"].tolist() == [100001] and len(scores) == 1
    assert len(scorer.calls) == 2


def test_an_unreachable_server_is_an_error_not_a_refusal(scorer, rows):
    scorer.down = True
    with pytest.raises(ScoringError, match="unreachable"):
        score_accepted(scorer, rows, local=("TARGET", "DATASET"))
    kept, scores = score_accepted(scorer, rows.iloc[:0])  # nothing to send: no request
    assert kept.empty and scores == []
