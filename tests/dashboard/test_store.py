"""The dashboard's stores and views with a stand-in scoring client (no server, no browser)."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import pytest

from dashboard import views as V
from dashboard.desk import DecisionDesk
from dashboard.i18n import language
from dashboard.population import IdIndex, group_key
from dashboard.registry import confusion_counts, roc_points
from dashboard.sensitivity import sensitivity
from dashboard.store import Application, ClientScore, ServerStatus
from dashboard.views import population as VP
from dashboard.views.decision import DecisionPanel
from dashboard.views.letter import LetterCard
from dashboard.words import distance_text, format_value, reason_sentence
from scoring.schema import DAYS_EMPLOYED_PLACEHOLDER
from serving.client import Score

EN, FR = language("en"), language("fr")


@pytest.fixture
def chosen(scorer, lookup) -> ClientScore:
    return ClientScore(scorer, lookup, t=EN)


def test_choosing_a_client_scores_it(chosen, scorer):
    chosen.select("100002")
    assert chosen.row["SK_ID_CURR"].item() == 100002
    assert chosen.result.decision == "refused" and chosen.message == ""
    sent = scorer.calls[-1]
    assert "TARGET" not in sent and "DATASET" not in sent


def test_unknown_or_malformed_id_gives_a_message(chosen):
    chosen.select("999")
    assert chosen.result is None and chosen.row is None
    assert "No client with number 999" in chosen.message
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
    whatif = Application(scorer, base=chosen.row, t=EN)
    assert whatif.values["AMT_CREDIT"] == "400,000"
    assert whatif.values["DAYS_BIRTH"] == f"{12_000 / 365.25:.1f}"
    whatif.values = {**whatif.values, "AMT_CREDIT": "1,500,000", "DAYS_EMPLOYED": ""}
    whatif.submit()
    sent = scorer.calls[-1].iloc[0]
    assert sent["AMT_CREDIT"] == 1_500_000 and sent["DAYS_EMPLOYED"] == DAYS_EMPLOYED_PLACEHOLDER
    assert sent["NAME_CONTRACT_TYPE"] == "Cash loans"
    assert whatif.result.probability > chosen.result.probability


def test_bad_values_get_a_message_at_their_field(scorer, rows):
    whatif = Application(scorer, base=rows.head(1), t=EN)
    whatif.values = {**whatif.values, "CNT_CHILDREN": "two"}
    whatif.submit()
    assert "not a number" in whatif.errors["CNT_CHILDREN"] and whatif.result is None
    whatif.values = {**whatif.values, "CNT_CHILDREN": "2", "AMT_INCOME_TOTAL": "-5"}
    whatif.submit()  # refused by the (stand-in) server with a 400 naming the field
    assert list(whatif.errors) == ["AMT_INCOME_TOTAL"]
    assert "outside the plausible range, from 0 to" in whatif.errors["AMT_INCOME_TOTAL"]


def test_what_if_while_server_is_down(scorer, rows):
    status = ServerStatus(scorer)
    whatif = Application(scorer, status, base=rows.head(1), t=EN)
    scorer.down = True
    whatif.submit()
    assert "does not answer" in whatif.message and not status.ok


def test_words_in_both_languages():
    score = Score(1, 0.123, "refused", 0.1, 0.023)
    assert "12.3%" in distance_text(EN, score) and "2.3 points above" in distance_text(EN, score)
    assert "12,3\u00a0%" in distance_text(FR, score) and "2,3 points au-dessus" in \
        distance_text(FR, score)
    assert format_value(EN, "DAYS_BIRTH", -18262.5) == "50.0 years"
    assert format_value(FR, "DAYS_BIRTH", -18262.5) == "50,0 ans"
    assert format_value(EN, "AMT_CREDIT", 1234567.0) == "1,234,567"
    assert format_value(FR, "AMT_CREDIT", 1234567.0) == "1\u202f234\u202f567"
    assert format_value(FR, "NAME_INCOME_TYPE", "Pensioner") == "Retraité"
    reason = {"feature": "AMT_CREDIT", "value": 5e5, "contribution": 0.42}
    assert reason_sentence(EN, reason) == "Credit amount (500,000) raised the risk strongly."
    assert reason_sentence(FR, reason) == \
        "Montant du crédit (500\u202f000) a fortement augmenté le risque."


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
    assert population.size((("contract type", "Consumer loans"),)) == 0  # no such client
    population.warm(["contract type"])
    assert ("AMT_CREDIT", (("contract type", "Revolving loans"),), 1) in population._medians


def _render(view) -> pn.viewable.Viewable:
    """Render a view as Panel would, and return its root model's document-free layout."""
    layout = pn.panel(view)
    layout.get_root()
    return layout


def test_every_view_renders(chosen, scorer, population, sample, card, rows):
    whatif = Application(scorer, base=rows.head(1), t=EN)
    contributions = pd.DataFrame({"SK_ID_CURR": [1, 2, 1, 2], "feature": ["AMT_CREDIT"] * 2 +
                                  ["DAYS_BIRTH"] * 2, "value": [1e5, 2e5, -1e4, -2e4],
                                  "contribution": [0.1, -0.2, 0.05, 0.0]})
    views = [V.ClientPicker(IdIndex(rows["SK_ID_CURR"]), store=chosen),
             V.RecentClients(store=chosen), V.ScoreCard(store=chosen),
             V.ClientProfile(store=chosen), V.Reasons(store=chosen), V.Recourse(store=chosen),
             V.SensitivityView(store=chosen), V.PopulationView(population, store=chosen),
             V.Bivariate(sample, population.features, store=chosen),
             V.ApplicationForm(application=whatif, compare_with=chosen),
             V.ModelPage(card=card, t=EN), V.GlobalImportance(card=card, t=EN),
             V.ShapSummary(contributions, ["AMT_CREDIT", "DAYS_BIRTH"], t=EN),
             V.ServerBanner(status=chosen.status, t=EN),
             V.ServerState(status=chosen.status, t=EN, version="3"),
             DecisionPanel(desk=DecisionDesk(None, t=EN)), LetterCard(store=chosen)]
    for view in views:
        _render(view)  # nothing chosen yet
    chosen.select("100002")
    chosen.explore()
    whatif.submit()
    for view in views:
        _render(view)
    assert "Loan refused" in V.ScoreCard(store=chosen)._decision.object
    assert chosen.recent == [100002]


def test_sensitivity_is_one_batch_and_finds_the_amount_that_changes_the_decision(chosen,
                                                                                  scorer):
    chosen.select("100001")  # credit / income 2: p = 0.12, refused at 0.1
    calls = len(scorer.calls)
    chosen.explore()
    assert len(scorer.calls) == calls + 1  # one request for every variant
    curves = chosen.curves
    assert set(curves.frame["field"]) == {"AMT_CREDIT", "AMT_ANNUITY", "AMT_GOODS_PRICE"}
    credit = curves.field("AMT_CREDIT")
    assert credit["probability"].is_monotonic_increasing
    changes = {c.field: c for c in curves.recourse()}
    # the stand-in grants below credit / income = 4 - ln 9 = 1.80: 360,000 of 400,000
    assert changes["AMT_CREDIT"].decision == "granted"
    assert changes["AMT_CREDIT"].value < 400_000 * (4 - 2.1972) / 2
    assert "AMT_ANNUITY" not in changes  # the stand-in ignores the annuity
    sentences = V.Recourse(store=chosen)._text.object
    assert "the loan would be granted" in sentences


def test_sensitivity_leaves_out_refused_variants(scorer, rows):
    row = rows.iloc[[1]].drop(columns=["TARGET", "DATASET"])  # credit 900,000
    curves = sensitivity(scorer, row, 0.1, "refused")
    credit = curves.field("AMT_CREDIT")
    assert credit["value"].max() <= 1_500_000 < 900_000 * 2  # the refused ones left out
    assert len(curves.field("AMT_ANNUITY")) == 15
    assert len(scorer.calls) == 2  # refused once, then scored without the refused rows


def test_views_speak_french(scorer, lookup, population):
    chosen = ClientScore(scorer, lookup, t=FR)
    chosen.select("100001")
    chosen.explore()
    assert "Prêt refusé" in V.ScoreCard(store=chosen)._decision.object
    assert "a fortement augmenté le risque" in V.Reasons(store=chosen)._sentences.object
    assert "toutes choses égales par ailleurs" in V.Recourse(store=chosen)._text.object
    view = V.PopulationView(population, store=chosen)
    assert "clients ayant le même type de contrat (Prêt personnel)" in view._title.object
    chosen.select("abc")
    assert "n'est pas un numéro de client" in chosen.message


def test_bivariate_rasterizes_many_points(chosen, sample, population, monkeypatch):
    monkeypatch.setattr(VP, "RASTER_ABOVE", 2)
    chosen.select("100001")
    view = V.Bivariate(sample, population.features, store=chosen)
    points = view._plot().object
    assert isinstance(points, hv.DynamicMap)  # datashader re-aggregates on zoom
    assert "Client 100001 (orange star)" in view._text.object
    monkeypatch.setattr(VP, "RASTER_ABOVE", 1000)
    assert isinstance(view._plot().object, hv.Scatter)
    assert view._star.data["x"]  # the client's star


def test_population_view_follows_the_client(chosen, population):
    view = V.PopulationView(population, store=chosen)
    chosen.select("100002")
    assert "Client 100002:" in view._summary.object
    assert view._drawn[1] == (("contract type", "Cash loans"), ("age band", "60-69"))
    chosen.select("100001")
    assert "Client 100001:" in view._summary.object and view._marker.visible


def test_model_page_lists_the_confusion_counts(card):
    html = pd.Series([o.object for o in V.ModelPage(card=card, t=EN).__panel__().objects
                      if isinstance(o, pn.pane.HTML)]).str.cat()
    assert "323" in html and "153" in html


def test_model_page_draws_the_roc_curve_in_the_page_language(card):
    target = np.array([0, 0, 1, 1, 0, 1])
    proba = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    card.roc, card.roc_auc = roc_points(target, proba)
    assert card.roc_auc == pytest.approx(8 / 9)  # 8 of the 9 (defaulted, repaid) pairs ranked
    assert card.roc.iloc[[0, -1]].to_numpy().tolist() == [[0.0, 0.0], [1.0, 1.0]]
    fig = next(o.object for o in V.ModelPage(card=card, t=FR).__panel__().objects
               if isinstance(o, pn.pane.Bokeh))
    assert fig.title.text == "Courbe ROC"
    assert fig.xaxis[0].axis_label == "Taux de faux positifs"
    assert "modèle (AUC 0,889)" in [item.label.value for item in fig.legend[0].items]


def test_model_page_of_a_cross_validated_champion_shows_its_oof_figures(card):
    """A run without a test part reports out-of-fold metrics over every labelled client."""
    oof = {k.replace("test_", "oof_"): v for k, v in card.metrics.items()
           if k != "test_threshold"}
    card.metrics = {**oof, "oof_roc_auc": 0.761, "threshold": card.metrics["test_threshold"]}
    card.params = {"cv_rows": "518", "test_rows": "0", "folds": "5", "fn_cost": "10",
                   "fp_cost": "1"}
    assert card.evaluated_on == "oof" and card.metric("roc_auc") == 0.761
    html = pd.Series([o.object for o in V.ModelPage(card=card, t=EN).__panel__().objects
                      if isinstance(o, (pn.pane.HTML, pn.pane.Markdown))]).str.cat()
    assert "0.761" in html
    assert "323" in html and "153" in html  # the same counts, from the OOF metrics


def test_model_page_shows_the_champion_model_card_with_translated_headings(card):
    card.document = ("# Model card: credit-scoring version 3\n\nCreated by `scoring train`.\n\n"
                     "## Performance\n\n| metric | value |\n|---|---|\n| ROC AUC | 0.7489 |\n\n"
                     "## Fairness\n\nLowest AIR: gender 0.883, age 0.561.\n")
    fr = V.GovernanceCard(card=card, t=FR)
    assert fr.sections() == [("Performance", "| metric | value |\n|---|---|\n| ROC AUC | 0.7489 |"),
                             ("Équité", "Lowest AIR: gender 0.883, age 0.561.")]
    text = pd.Series([o.object for o in fr.__panel__().objects
                      if isinstance(o, pn.pane.Markdown)]).str.cat()
    assert "#### Équité" in text and "gender 0.883" in text and "0.7489" in text
    english = pd.Series([o.object for o in V.GovernanceCard(card=card, t=EN).__panel__().objects
                         if isinstance(o, pn.pane.Markdown)]).str.cat()
    assert "#### Fairness" in english
    card.document = None
    none = V.GovernanceCard(card=card, t=EN).__panel__()
    assert "trained before model cards" in pd.Series(
        [o.object for o in none.objects if isinstance(o, pn.pane.Markdown)]).str.cat()
