"""The dashboard's stores and views with a stand-in scoring client (no server, no browser)."""

from __future__ import annotations

import json

import holoviews as hv
import pandas as pd
import panel as pn
import pytest

from dashboard import views as V
from dashboard.population import IdIndex, group_key, refused_rows_dropped
from dashboard.registry import confusion_counts
from dashboard.store import Application, ClientScore, ServerStatus
from dashboard.words import distance_text, format_value, reason_sentence
from scoring.request import RequestError
from scoring.schema import DAYS_EMPLOYED_PLACEHOLDER
from serving.client import Score, parse_error


@pytest.fixture
def chosen(scorer, lookup) -> ClientScore:
    return ClientScore(scorer, lookup)


def test_choosing_a_client_scores_it(chosen, scorer):
    chosen.select("100002")
    assert chosen.row["SK_ID_CURR"].item() == 100002
    assert chosen.result.decision == "refused" and chosen.message == ""
    sent = scorer.calls[-1]
    assert "TARGET" not in sent and "DATASET" not in sent


def test_unknown_or_malformed_id_gives_a_message(chosen):
    chosen.select("999")
    assert chosen.result is None and chosen.row is None
    assert "No client with SK_ID_CURR 999" in chosen.message
    chosen.select("12a")
    assert "not a client number" in chosen.message


def test_server_down_then_back(chosen, scorer):
    scorer.down = True
    chosen.select("100001")
    assert chosen.result is None and not chosen.status.ok
    assert chosen.row is not None  # client data still shown
    chosen.heartbeat()
    assert not chosen.status.ok
    scorer.down = False
    chosen.heartbeat()
    assert chosen.status.ok and chosen.result is not None


def test_what_if_rescoring_changes_the_score(chosen, scorer):
    chosen.select("100001")
    whatif = Application(scorer, base=chosen.row)
    assert whatif.values["AMT_CREDIT"] == "400000"
    assert whatif.values["DAYS_BIRTH"] == f"{12_000 / 365.25:.1f}"
    whatif.values = {**whatif.values, "AMT_CREDIT": "1,500,000", "DAYS_EMPLOYED": ""}
    whatif.submit()
    sent = scorer.calls[-1].iloc[0]
    assert sent["AMT_CREDIT"] == 1_500_000 and sent["DAYS_EMPLOYED"] == DAYS_EMPLOYED_PLACEHOLDER
    assert sent["NAME_CONTRACT_TYPE"] == "Cash loans"
    assert whatif.result.probability > chosen.result.probability


def test_bad_values_get_a_message_at_their_field(scorer, rows):
    whatif = Application(scorer, base=rows.head(1))
    whatif.values = {**whatif.values, "CNT_CHILDREN": "two"}
    whatif.submit()
    assert "not a number" in whatif.errors["CNT_CHILDREN"] and whatif.result is None
    whatif.values = {**whatif.values, "CNT_CHILDREN": "2", "AMT_INCOME_TOTAL": "-5"}
    whatif.submit()  # refused by the (stand-in) server with a 400 naming the field
    assert list(whatif.errors) == ["AMT_INCOME_TOTAL"]
    assert "outside the plausible range" in whatif.errors["AMT_INCOME_TOTAL"]


def test_what_if_while_server_is_down(scorer, rows):
    status = ServerStatus(scorer)
    whatif = Application(scorer, status, base=rows.head(1))
    scorer.down = True
    whatif.submit()
    assert "does not answer" in whatif.message and not status.ok


def test_words():
    score = Score(1, 0.123, "refused", 0.1, 0.023)
    assert "12.3%" in distance_text(score) and "2.3 points above" in distance_text(score)
    assert format_value("DAYS_BIRTH", -18262.5) == "50.0 years"
    assert format_value("AMT_CREDIT", 1234567.0) == "1,234,567"
    sentence = reason_sentence({"feature": "INST_DPD_MEAN", "label": "Mean days past due",
                                "value": 3.5, "contribution": 0.42})
    assert sentence == "Mean days past due (3.5) raised the risk strongly."


def test_confusion_counts_from_logged_metrics():
    assert confusion_counts(0.15, 0.6428571428571429, 0.6756756756756757, 518) == {
        "TP": 27, "FP": 153, "FN": 15, "TN": 323}
    assert confusion_counts(0.0, 0.0, 0.9, 100) is None


def test_id_search():
    index = IdIndex([100002, 100010, 100011, 200000])
    assert index.matches("10001") == ["100010", "100011"]
    assert index.matches("x") == [] and 200000 in index and 5 not in index


def test_population_groups(population, rows):
    row = rows.iloc[0]
    key = group_key(row, ["contract type", "age band"])
    assert key == (("contract type", "Cash loans"), ("age band", "30-39"))
    assert population.size(key) == 20
    assert population.default_rate() == pytest.approx(0.5)
    hist = population.histograms("AMT_CREDIT", key)
    assert hist["repaid"].sum() == pytest.approx(1.0)
    assert population.histograms("DAYS_BIRTH")["left"].min() > 0  # ages in years


def _render(view) -> pn.viewable.Viewable:
    """Render a view as Panel would, and return its root model's document-free layout."""
    layout = pn.panel(view)
    layout.get_root()
    return layout


def test_every_view_renders(chosen, scorer, population, sample, card, rows):
    whatif = Application(scorer, base=rows.head(1))
    views = [V.ClientPicker(IdIndex(rows["SK_ID_CURR"]), store=chosen),
             V.ScoreCard(store=chosen), V.ClientProfile(store=chosen),
             V.Explanation(store=chosen), V.PopulationView(population, store=chosen),
             V.Bivariate(sample, population.features, store=chosen),
             V.ApplicationForm(application=whatif, compare_with=chosen),
             V.ModelPage(card=card), V.GlobalImportance(card=card),
             V.ServerBanner(status=chosen.status)]
    for view in views:
        _render(view)  # nothing chosen yet
    chosen.select("100002")
    whatif.submit()
    for view in views:
        _render(view)
    text = V.ScoreCard(store=chosen).__panel__().objects
    assert any("Loan refused" in getattr(o, "object", "") for o in text)


def test_bivariate_rasterizes_many_points(chosen, sample, population, monkeypatch):
    monkeypatch.setattr(V, "RASTER_ABOVE", 2)
    chosen.select("100001")
    view = V.Bivariate(sample, population.features, store=chosen)
    points = view._plot().object
    assert isinstance(points, hv.DynamicMap)  # datashader re-aggregates on zoom
    assert "Client 100001 (orange star)" in view._text.object
    monkeypatch.setattr(V, "RASTER_ABOVE", 1000)
    assert isinstance(view._plot().object, hv.Scatter)
    assert view._star.data["x"]  # the client's star


def test_population_view_follows_the_client(chosen, population):
    view = V.PopulationView(population, store=chosen)
    chosen.select("100002")
    assert "Client 100002's" in view._summary.object
    assert view._curves.key == (("contract type", "Cash loans"), ("age band", "60-69"))
    chosen.select("100001")
    assert "Client 100001's" in view._summary.object and view._marker.visible


def test_model_page_lists_the_confusion_counts(card):
    html = pd.Series([o.object for o in V.ModelPage(card=card).__panel__().objects
                      if isinstance(o, pn.pane.HTML)]).str.cat()
    assert "323" in html and "153" in html


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
