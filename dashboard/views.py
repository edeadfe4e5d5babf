"""The dashboard's views: one small ``Viewer`` per part of the page.

Each view watches a store (``store.py``) or read-only data (the population, the model card)
and renders it. Every chart comes with a text alternative (a sentence or a table); colours
are Okabe-Ito (safe for colour-vision deficiencies) and never carry meaning alone: icons,
words, hatching and line dashes say the same thing.
"""

from __future__ import annotations

import math

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers .hvplot)
import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, FactorRange, Label, NumeralTickFormatter, Span
from bokeh.plotting import figure
from panel.viewable import Viewer

from dashboard.population import GROUPS, IdIndex, Population, ScoredSample, group_key, group_words
from dashboard.registry import ModelCard
from dashboard.store import FIELDS, Application, ClientScore, ServerStatus
from dashboard.words import (
    axis_label,
    decision_text,
    display_value,
    display_values,
    distance_text,
    feature_label,
    format_value,
    percent,
    reason_sentence,
)
from serving.client import Score, client_profile

# Okabe-Ito colours; text stays near-black for contrast (at least 4.5:1 on white).
BLUE, VERMILION, ORANGE, SKY, BLACK = "#0072B2", "#D55E00", "#E69F00", "#56B4E9", "#000000"
TEXT = "#1a1a1a"
#: Above this many points the bivariate plot is rasterized with datashader.
RASTER_ABOVE = 5_000


def _note(text: str, **kwargs) -> pn.pane.Markdown:
    """A paragraph of text (a chart's text alternative, a status line)."""
    return pn.pane.Markdown(text, sizing_mode="stretch_width", **kwargs)


def _alert(text: str, kind: str = "warning") -> pn.pane.Alert:
    """A message announced to screen readers."""
    return pn.pane.Alert(text, alert_type=kind, sizing_mode="stretch_width")


TABLE_CSS = """
table { border-collapse: collapse; font-size: 0.95rem; color: #1a1a1a; }
caption { text-align: left; font-weight: bold; padding: 0.3rem 0; }
th, td { text-align: left; padding: 0.2rem 0.8rem 0.2rem 0.2rem;
         border-bottom: 1px solid #c8c8c8; }
"""


def _table_html(frame: pd.DataFrame, caption: str) -> str:
    html = frame.to_html(index=False, border=0, escape=True)
    return html.replace('<table class="dataframe">', f"<table><caption>{caption}</caption>", 1)


def _table(frame: pd.DataFrame, caption: str) -> pn.pane.HTML:
    """A small HTML table with a caption (tables are every chart's fallback)."""
    return pn.pane.HTML(_table_html(frame, caption), sizing_mode="stretch_width",
                        stylesheets=[TABLE_CSS])


def _bokeh(fig: figure) -> pn.pane.Bokeh:
    """A Bokeh figure without toolbar; its text alternative is always shown next to it."""
    fig.toolbar_location = None
    fig.title.text_font_size = "1rem"
    return pn.pane.Bokeh(fig, sizing_mode="stretch_width")


# --- selecting a client and the server status -------------------------------------------------

class ClientPicker(Viewer):
    """Type or search a client number; an unknown or malformed number gets a clear message."""

    store = param.ClassSelector(class_=ClientScore)

    def __init__(self, index: IdIndex, **params) -> None:
        super().__init__(**params)
        self.index = index
        self.input = pn.widgets.AutocompleteInput(
            label="Client number (SK_ID_CURR)", placeholder="type a client number, e.g. "
            f"{index.matches('1', 1)[0] if len(index) else '100002'}", restrict=False,
            min_characters=2, case_sensitive=False, search_strategy="starts_with",
            options=[], sizing_mode="stretch_width")
        self.input.param.watch(self._suggest, "value_input")
        self.input.param.watch(lambda e: self.store.select(e.new), "value")

    def _suggest(self, event: param.parameterized.Event) -> None:
        self.input.options = self.index.matches(event.new or "")

    @param.depends("store.message")
    def _message(self) -> pn.viewable.Viewable:
        return _alert(self.store.message) if self.store.message else pn.Spacer(height=0)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.input, _note(
            f"{len(self.index):,} clients in the feature store. Type a few digits to see "
            "matching numbers, then press Enter."), self._message,
            sizing_mode="stretch_width")


class ServerBanner(Viewer):
    """A banner while the model server does not answer; it goes away by itself."""

    status = param.ClassSelector(class_=ServerStatus)

    @param.depends("status.ok")
    def __panel__(self) -> pn.viewable.Viewable:
        if self.status.ok:
            return pn.Spacer(height=0)
        return _alert(
            f"**The model server is not answering** ({self.status.scorer.base_url}). Scores, "
            "explanations and what-if results are unavailable for now; client information "
            "and comparisons still work. The page checks again every few seconds and "
            "recovers by itself.", kind="danger")


# --- the score ----------------------------------------------------------------------------------

class Gauge:
    """A linear gauge of the probability of default with the threshold marked, drawn once
    and updated in place (switching client sends numbers, not a new figure).

    The scale ends at a round value above both the threshold and the probability, so a
    threshold of a few percent is not squashed against zero.
    """

    def __init__(self) -> None:
        fig = figure(height=170, x_range=(0, 1), y_range=(0, 1), sizing_mode="stretch_width",
                     title="Probability of default")
        self.granted = ColumnDataSource({"left": [0.0], "right": [0.0]})
        self.refused = ColumnDataSource({"left": [0.0], "right": [1.0]})
        self.value = ColumnDataSource({"right": [0.0]})
        fig.hbar(y=0.45, left="left", right="right", height=0.5, color=SKY, alpha=0.5,
                 source=self.granted, legend_label="granted below the threshold")
        fig.hbar(y=0.45, left="left", right="right", height=0.5, color=ORANGE, alpha=0.5,
                 hatch_pattern="/", hatch_color=TEXT, hatch_alpha=0.3, source=self.refused,
                 legend_label="refused at or above")
        fig.hbar(y=0.45, left=0, right="right", height=0.18, color=TEXT, source=self.value)
        self.span = Span(location=0, dimension="height", line_color=BLACK, line_width=3,
                         line_dash="dashed")
        self.threshold_label = Label(x=0, y=0.75, text="", text_font_size="0.9rem",
                                     text_color=TEXT)
        self.value_label = Label(x=0, y=0.05, text="", text_font_size="0.9rem",
                                 text_color=TEXT, text_font_style="bold")
        for item in (self.span, self.threshold_label, self.value_label):
            fig.add_layout(item)
        fig.xaxis.formatter = NumeralTickFormatter(format="0%")
        fig.yaxis.visible = False
        fig.ygrid.visible = False
        fig.legend.label_text_font_size = "0.8rem"
        fig.legend.orientation = "horizontal"
        fig.add_layout(fig.legend[0], "below")
        self.figure = fig

    def update(self, score: Score) -> None:
        top = max(3 * score.threshold, 1.25 * score.probability, 0.05)
        step = 0.05 if top <= 0.5 else 0.1
        upper = min(1.0, math.ceil(top / step) * step)
        shown = min(score.probability, upper)
        self.figure.x_range.end = upper
        self.granted.data = {"left": [0.0], "right": [score.threshold]}
        self.refused.data = {"left": [score.threshold], "right": [upper]}
        self.value.data = {"right": [shown]}
        self.span.location = score.threshold
        self.threshold_label.update(x=score.threshold,
                                    text=f" threshold {percent(score.threshold)}")
        self.value_label.update(x=shown, text=f" client {percent(score.probability)}")


class ScoreCard(Viewer):
    """The client's probability on a gauge, the decision in words with an icon, and how far
    the client is from the threshold."""

    store = param.ClassSelector(class_=ClientScore)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._title = _note("Choose a client to see the score.")
        self._decision = pn.pane.Markdown("", css_classes=["decision"], styles=self._style())
        self._distance = _note("", css_classes=["distance"])
        self._gauge = Gauge()
        self._plot = _bokeh(self._gauge.figure)
        self._layout = pn.Column(self._title, self._decision, self._distance, self._plot,
                                 sizing_mode="stretch_width")
        self._update()

    @staticmethod
    def _style(decision: str = "granted") -> dict[str, str]:
        edge = BLUE if decision == "granted" else VERMILION
        return {"font-size": "1.6rem", "font-weight": "bold", "color": TEXT,
                "border-left": f"0.5rem solid {edge}", "padding-left": "0.6rem"}

    @param.depends("store.result", "store.row", watch=True)
    def _update(self) -> None:
        score = self.store.result
        if self.store.row is None:
            self._title.object = "Choose a client to see the score."
        elif score is None:
            self._title.object = (f"### Client {self.store.client_id}\n\nScore unavailable: the "
                                  "model server has not answered for this client.")
        else:
            self._title.object = f"### Client {self.store.client_id}"
            self._decision.param.update(object=decision_text(score),
                                        styles=self._style(score.decision))
            self._distance.object = distance_text(score)
            self._gauge.update(score)
        for part in (self._decision, self._distance, self._plot):
            part.visible = score is not None

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


class ClientProfile(Viewer):
    """The client's main application fields with readable labels and units."""

    store = param.ClassSelector(class_=ClientScore)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._table = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[TABLE_CSS])
        self._outcome = _note("")
        self._layout = pn.Column(_note("### About the client"), self._table, self._outcome,
                                 sizing_mode="stretch_width")
        self._update()

    @param.depends("store.row", watch=True)
    def _update(self) -> None:
        self._layout.visible = self.store.row is not None
        if self.store.row is None:
            return
        row = self.store.row.iloc[0]
        profile = pd.DataFrame(client_profile(row).items(), columns=["field", "value"])
        outcome = {0: "repaid", 1: "had payment difficulties"}.get(
            None if pd.isna(row.get("TARGET")) else int(row["TARGET"]), "not known yet")
        self._table.object = _table_html(profile,
                                         f"Application of client {self.store.client_id}")
        self._outcome.object = f"Outcome in the data: {outcome}."

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


# --- explanations -----------------------------------------------------------------------------

def _short(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


class Waterfall:
    """The client's top contributions stacked from the rest of the model (average client and
    other features) to the client's risk score (log-odds; right is riskier). Drawn once for
    ``rows`` reasons and updated in place."""

    def __init__(self, rows: int) -> None:
        self.steps = ColumnDataSource({k: [] for k in ("y", "left", "right", "color", "hatch",
                                                       "text")})
        self.ends = ColumnDataSource({"y": [], "x": [], "text": []})
        fig = figure(y_range=FactorRange(), height=60 + 28 * (rows + 2), x_range=(0, 1),
                     sizing_mode="stretch_width", title="How each feature moved the risk score")
        fig.hbar(y="y", left="left", right="right", height=0.7, color="color",
                 hatch_pattern="hatch", hatch_color="white", source=self.steps)
        fig.scatter(x="x", y="y", marker="diamond", size=16, color=TEXT, source=self.ends)
        fig.text(x="right", y="y", text="text", source=self.steps, text_font_size="0.8rem",
                 text_baseline="middle", x_offset=4, text_color=TEXT)
        fig.text(x="x", y="y", text="text", source=self.ends, text_font_size="0.8rem",
                 text_baseline="middle", x_offset=10, text_color=TEXT)
        fig.xaxis.axis_label = "risk score (log-odds of default): right = riskier"
        self.figure = fig

    def update(self, score: Score) -> None:
        reasons = score.reasons
        total = math.log(score.probability / (1 - score.probability))
        level = total - sum(r["contribution"] for r in reasons)
        labels = ["Average client and other features"] + [
            _short(feature_label(r["feature"])) for r in reasons] + ["This client"]
        labels = [f"{i + 1}. {label}" for i, label in enumerate(labels)]
        steps = {"y": labels[1:-1], "left": [], "right": [], "color": [], "hatch": [],
                 "text": []}
        ends = {"y": [labels[0], labels[-1]], "x": [level, total],
                "text": [f"{level:+.2f}", f"{total:+.2f} ({percent(score.probability)})"]}
        for r in reasons:
            c = r["contribution"]
            steps["left"].append(min(level, level + c))
            steps["right"].append(max(level, level + c))
            steps["color"].append(VERMILION if c > 0 else BLUE)
            steps["hatch"].append("/" if c > 0 else " ")
            steps["text"].append(f"{c:+.2f} {'▲ raises' if c > 0 else '▼ lowers'}")
            level += c
        low, high = min(ends["x"] + steps["left"]), max(ends["x"] + steps["right"])
        pad = 0.05 * (high - low) + 0.05
        self.figure.y_range.factors = list(reversed(labels))
        self.figure.x_range.update(start=low - pad, end=high + 8 * pad)
        self.steps.data, self.ends.data = steps, ends


class Explanation(Viewer):
    """The client's top contributions as a waterfall and as plain sentences."""

    store = param.ClassSelector(class_=ClientScore)
    top = param.Integer(default=6, bounds=(1, 10))

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._sentences = _note("", css_classes=["reasons"])
        self._waterfall = Waterfall(self.top)
        self._layout = pn.Column(_note("### Why this score"), self._sentences,
                                 _bokeh(self._waterfall.figure), sizing_mode="stretch_width")
        self._update()

    @param.depends("store.result", watch=True)
    def _update(self) -> None:
        score = self.store.result
        self._layout.visible = bool(score is not None and score.reasons)
        if not self._layout.visible:
            return
        top = Score(**{**score.__dict__, "reasons": score.reasons[:self.top]})
        sentences = "\n".join(f"- {reason_sentence(r)}" for r in top.reasons)
        self._sentences.object = f"The main reasons, most important first:\n\n{sentences}"
        self._waterfall.update(top)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


# --- the model and its global importance ------------------------------------------------------

class GlobalImportance(Viewer):
    """The champion's most influential features (mean |SHAP|) and its SHAP beeswarm."""

    card = param.ClassSelector(class_=ModelCard)
    top = param.Integer(default=15)

    def __panel__(self) -> pn.viewable.Viewable:
        table = self.card.importance.head(self.top).copy()
        table["feature"] = [_short(feature_label(f), 60) for f in table["feature"]]
        plot = table.iloc[::-1].hvplot.barh(
            x="feature", y="mean_abs_shap", color=BLUE, height=40 + 26 * len(table),
            xlabel="", ylabel="mean |contribution| (log-odds)", responsive=True,
            title=f"The {len(table)} most influential features of the model")
        parts = [_note("### What drives the model overall"), pn.pane.HoloViews(
            plot, sizing_mode="stretch_width"),
            _table(table[["feature", "mean_abs_shap"]].round(3).rename(
                columns={"mean_abs_shap": "mean |contribution|"}),
                "The same ranking as a table")]
        if "shap_summary" in self.card.plots:
            parts += [_note("#### Contributions across clients (SHAP summary)"),
                      pn.pane.PNG(self.card.plots["shap_summary"], sizing_mode="scale_width",
                                  max_width=800, alt_text=(
                                      "SHAP summary (beeswarm) of the champion model on test "
                                      "clients: one dot per client and feature, placed by its "
                                      "contribution and coloured by the feature's value; the "
                                      "ranking is the table above.")),
                      _note("Each dot is a client: to the right the feature raised that "
                            "client's risk, to the left it lowered it; the colour shows "
                            "whether the client's value was high or low.")]
        return pn.Column(*parts, sizing_mode="stretch_width")


class ModelPage(Viewer):
    """The champion: version, training date and data, metrics, confusion at the threshold."""

    card = param.ClassSelector(class_=ModelCard)

    def __panel__(self) -> pn.viewable.Viewable:
        card = self.card
        rows = f"{card.data_rows:,} labelled clients" if card.data_rows else "unknown size"
        test = card.evaluated_on == "test"
        clients = ("the test clients" if test else
                   "every labelled client, each scored by a cross-validation model that never "
                   "saw it")
        split = (f"{card.params.get('cv_rows', card.params.get('train_rows', '?'))} for "
                 f"training, {card.params.get('test_rows', '?')} held out for the test"
                 if test else f"{card.params.get('folds', '?')}-fold cross-validated, then "
                 "refit on all of them")
        facts = (
            f"### The champion model\n\n"
            f"- **Version**: {card.version} of credit-scoring (run {card.run_id[:8]})\n"
            f"- **Trained**: {card.trained_at:%d %B %Y at %H:%M} UTC\n"
            f"- **Data**: {rows} from {card.data_source} (digest {card.data_digest}); "
            f"{split}\n"
            f"- **ROC AUC** on {clients}: {card.metric('roc_auc'):.3f}\n"
            f"- **Business cost**: {card.metric('business_cost'):.3f} per "
            f"application ({card.params.get('fn_cost', '10')} per granted loan that defaults, "
            f"{card.params.get('fp_cost', '1')} per refused client who would repay)\n"
            f"- **Threshold**: loans are refused from a probability of "
            f"{percent(card.threshold)}\n")
        parts = [_note(facts)]
        counts = card.confusion()
        if counts:
            parts.append(_table(pd.DataFrame({
                "": ["actually repaid", "actually defaulted"],
                "granted (below threshold)": [counts["TN"], counts["FN"]],
                "refused (at or above)": [counts["FP"], counts["TP"]]}),
                f"Confusion matrix of {'the test' if test else 'all labelled'} clients at "
                f"the threshold "
                f"{percent(card.threshold)}"))
        alts = {"roc_curve": f"ROC curve of {'the test' if test else 'all labelled'} "
                             f"clients, AUC {card.metric('roc_auc'):.3f}."}
        parts += [pn.pane.PNG(card.plots[name], alt_text=alt, width=420)
                  for name, alt in alts.items() if name in card.plots]
        return pn.Column(*parts, sizing_mode="stretch_width")


# --- the client among the population -------------------------------------------------------

_Curves = hv.streams.Stream.define("Curves", feature="", key=param.Parameter(default=()))


class PopulationView(Viewer):
    """A feature's distribution for repaid and defaulted clients, with the client marked, and
    the client next to similar clients.

    The plot is drawn once; streams update the curves when the feature or the group changes
    and only the client's marker when just the client does.
    """

    store = param.ClassSelector(class_=ClientScore)
    feature = param.Selector(doc="Feature to compare.")
    criteria = param.ListSelector(default=["contract type", "age band"],
                                  objects=list(GROUPS), doc="Similar clients share these.")
    live = param.Boolean(default=True, doc="False while hidden: switching client skips it.")

    def __init__(self, population: Population, **params) -> None:
        super().__init__(**params)
        self.population = population
        self.param.feature.objects = population.features
        self.param.feature.names = {axis_label(f): f for f in population.features}
        self._curves = _Curves(feature=population.features[0])
        # The client's line is a Bokeh span moved in place: switching client sends a number.
        self._marker = Span(location=0, dimension="height", line_color=BLACK, line_width=2,
                            line_dash="dotted", visible=False)
        plot = hv.DynamicMap(self._draw_curves, streams=[self._curves]).opts(
            hooks=[self._add_marker])
        self._title = _note("")
        self._summary = _note("", css_classes=["population-summary"])
        self._similar = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[TABLE_CSS])
        self._body = pn.Column(self._title, pn.pane.HoloViews(plot.opts(
            responsive=True, height=320, toolbar=None, legend_position="top_right")),
            self._summary, self._similar, sizing_mode="stretch_width")
        self._hint = _note("Choose a client to compare.")
        self.feature = population.features[0]  # draws

    def _draw_curves(self, feature: str, key: tuple) -> hv.Overlay:
        hist = self.population.histograms(feature, key)
        centre = (hist["left"] + hist["right"]) / 2
        label = axis_label(feature)
        return (hv.Curve((centre, hist["repaid"]), label, "share of clients", label="repaid")
                .opts(interpolation="steps-mid", color=BLUE, line_width=3, framewise=True)
                * hv.Curve((centre, hist["defaulted"]), label, "share of clients",
                           label="defaulted").opts(interpolation="steps-mid", color=VERMILION,
                                                   line_width=3, line_dash="dashed",
                                                   framewise=True))

    def _add_marker(self, plot, element) -> None:
        if self._marker not in plot.state.center:
            plot.state.add_layout(self._marker)

    @param.depends("store.row", "feature", "criteria", "live", watch=True)
    def _update(self) -> None:
        if not self.live:  # hidden tab: catch up when shown
            return
        self._hint.visible = self.store.row is None
        self._body.visible = self.store.row is not None
        if self.store.row is None:
            return
        row = self.store.row.iloc[0]
        key = group_key(row, self.criteria)
        if (self._curves.feature, self._curves.key) != (self.feature, key):
            self._curves.event(feature=self.feature, key=key)
        value = display_value(self.feature, row.get(self.feature))
        self._marker.update(location=0.0 if math.isnan(value) else value,
                            visible=not math.isnan(value))
        self._title.object = f"#### {axis_label(self.feature)}: {group_words(key)}"
        self._summary.object = self._sentence(row, key, value)
        self._similar.object = self._table(row, key)

    def _sentence(self, row: pd.Series, key: tuple, value: float) -> str:
        people, name = self.population, self.feature
        below = people.share_below(name, value, key)
        return (f"Client {self.store.client_id}'s {feature_label(name).lower()} is "
                f"{format_value(name, row.get(name))}"
                + ("" if math.isnan(value) else " (dotted line)")
                + ("" if math.isnan(below) else f", higher than {below:.0%} of the "
                   f"{people.size(key):,} {group_words(key)}")
                + f". Median of these clients: {_fmt(people.median(name, key, 0))} for those "
                f"who repaid (solid blue), {_fmt(people.median(name, key, 1))} for those who "
                f"defaulted (dashed orange); {people.default_rate(key):.1%} of them defaulted "
                f"({people.default_rate():.1%} of all clients).")

    def _table(self, row: pd.Series, key: tuple) -> str:
        table = self.population.compare(row, key)
        shown = pd.DataFrame({
            "feature": [axis_label(f) for f in table["feature"]],
            "this client": [_fmt(v) for v in table["client"]],
            "similar clients (median)": [_fmt(v) for v in table["similar"]],
            "all clients (median)": [_fmt(v) for v in table["all"]]})
        return _table_html(shown, f"Client {self.store.client_id} next to the "
                                  f"{self.population.size(key):,} {group_words(key)}")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            _note("### The client among all clients"),
            pn.Row(pn.widgets.Select.from_param(self.param.feature, label="Feature"),
                   pn.widgets.CheckBoxGroup.from_param(self.param.criteria,
                                                       label="Similar clients share",
                                                       inline=True)),
            self._hint, self._body, sizing_mode="stretch_width")


def _fmt(value: float) -> str:
    if value is None or math.isnan(value):
        return "not given"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


class Bivariate(Viewer):
    """Two features for a scored sample of clients, coloured by probability of default, the
    client highlighted; rasterized with datashader when there are many points.

    The points are drawn again only when the axes change; switching client moves the star.
    """

    store = param.ClassSelector(class_=ClientScore)
    x = param.Selector()
    y = param.Selector()
    refresh = param.Event(doc="Redraw, e.g. once the sample is scored.")
    live = param.Boolean(default=True, doc="False while hidden: switching client skips it.")

    def __init__(self, sample: ScoredSample, features: list[str], **params) -> None:
        super().__init__(**params)
        self.sample = sample
        for name in ("x", "y"):
            self.param[name].objects = features
            self.param[name].names = {axis_label(f): f for f in features}
        self.drawn_ready = False  # whether the last drawing had the scored sample
        self._star = ColumnDataSource({"x": [], "y": []})
        self._text = _note("")
        self._cached: tuple = (None, None, float("nan"))
        self.param.update(x=features[0], y=features[min(3, len(features) - 1)])  # draws

    @param.depends("x", "y", "refresh")
    def _plot(self) -> pn.viewable.Viewable:
        self.drawn_ready = self.sample.ready
        if not self.sample.ready:
            return _note(f"Scoring a sample of {self.sample.size:,} clients with the model "
                         "server for this plot… it appears when done.")
        data = self._data()
        xl, yl = data.columns[:2]
        many = len(data) > RASTER_ABOVE
        options = dict(x=xl, y=yl, c="probability", cmap="cividis", responsive=True,
                       height=420, clabel="probability of default", colorbar=True,
                       title=f"{len(data):,} sampled clients, coloured by probability"
                             + (" (mean per pixel)" if many else ""))
        points = (data.hvplot.points(rasterize=True, aggregator="mean", **options) if many
                  else data.hvplot.scatter(size=6, alpha=0.6, **options))
        return pn.pane.HoloViews(points.opts(hooks=[self._add_star]),
                                 sizing_mode="stretch_width")

    def _add_star(self, plot, element) -> None:
        """Draw the client's star from its own source, moved in place on a switch (the
        rasterized image is not sent again)."""
        figure_ = plot.state
        if not any(getattr(r, "data_source", None) is self._star for r in figure_.renderers):
            figure_.scatter("x", "y", source=self._star, marker="star", size=22,
                            fill_color=ORANGE, line_color=BLACK, line_width=2)

    def _data(self) -> pd.DataFrame:
        """The sample on the two axes (kept for the current axes: switching client reuses it)."""
        if self._cached[0] != (self.x, self.y):
            frame = self.sample.frame
            data = pd.DataFrame({axis_label(self.x): display_values(self.x, frame[self.x]),
                                 axis_label(self.y): display_values(self.y, frame[self.y]),
                                 "probability": frame["probability"].to_numpy()}).dropna()
            self._cached = ((self.x, self.y), data, data.iloc[:, 0].corr(data.iloc[:, 1]))
        return self._cached[1]

    @param.depends("store.row", "x", "y", "refresh", "live", watch=True)
    def _update(self) -> None:
        if not (self.live and self.sample.ready):
            return
        data = self._data()
        xl, yl = data.columns[:2]
        text = f"{len(data):,} sampled clients; correlation between the two features " \
               f"{self._cached[2]:.2f}."
        if self.store.row is not None:
            row = self.store.row.iloc[0]
            cx = display_value(self.x, row.get(self.x))
            cy = display_value(self.y, row.get(self.y))
            shown = not (math.isnan(cx) or math.isnan(cy))
            self._star.data = {"x": [cx] if shown else [], "y": [cy] if shown else []}
            cid = self.store.client_id
            text += (f" Client {cid} (orange star) has {format_value(self.x, row.get(self.x))}"
                     f" and {format_value(self.y, row.get(self.y))}." if shown else
                     f" Client {cid} has no value for one of the two features.")
        self._text.object = text

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            _note("### Two features at once"),
            pn.Row(pn.widgets.Select.from_param(self.param.x, label="Horizontal axis"),
                   pn.widgets.Select.from_param(self.param.y, label="Vertical axis")),
            self._plot, self._text, sizing_mode="stretch_width")


# --- what-if and new client --------------------------------------------------------------------

class ApplicationForm(Viewer):
    """Edit application fields and score them through the model server; a bad value gets its
    message at the field."""

    application = param.ClassSelector(class_=Application)
    title = param.String(default="### What if")
    intro = param.String(default="")
    compare_with = param.ClassSelector(class_=ClientScore, default=None, allow_None=True)
    result_class = param.String(default="whatif-result", doc="CSS class of the result.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.widgets = {f.name: (pn.widgets.Select(label=f.label, options=list(f.choices))
                                 if f.choices else pn.widgets.TextInput(label=f.label))
                        for f in FIELDS}
        for name, widget in self.widgets.items():
            widget.param.watch(lambda e, n=name: self._edit(n, e.new), "value")
        self.button = pn.widgets.Button(label="Score this application", color="primary")
        self.button.on_click(lambda _: self.application.submit())
        self._fill()

    @param.depends("application.values", watch=True)
    def _fill(self) -> None:
        for name, text in self.application.values.items():
            widget = self.widgets[name]
            if isinstance(widget, pn.widgets.Select) and text not in widget.options:
                text = widget.options[0]
            widget.value = text

    def _edit(self, name: str, value: str) -> None:
        if self.application.values.get(name) != value:
            self.application.values = {**self.application.values, name: value or ""}

    def _field(self, name: str) -> pn.viewable.Viewable:
        def error(errors: dict[str, str]) -> pn.viewable.Viewable:
            if name not in errors:
                return pn.Spacer(height=0)
            return pn.pane.Markdown(f"⚠ {errors[name]}", css_classes=["field-error"],
                                    styles={"color": "#8a2b00", "font-weight": "bold"})
        return pn.Column(self.widgets[name], pn.bind(error, self.application.param.errors),
                         width=280)

    @param.depends("application.result", "application.message")
    def _result(self) -> pn.viewable.Viewable:
        app = self.application
        if app.message:
            return _alert(app.message)
        if app.result is None:
            return pn.Spacer(height=0)
        text = f"**{decision_text(app.result)}**. {distance_text(app.result)}"
        current = self.compare_with.result if self.compare_with else None
        if current is not None:
            change = app.result.probability - current.probability
            text += (f" Before the changes: {percent(current.probability)} "
                     f"({change * 100:+.1f} points).")
        return _note(text, css_classes=[self.result_class])

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(_note(self.title), _note(self.intro),
                         pn.FlexBox(*[self._field(f.name) for f in FIELDS]),
                         self.button, self._result, sizing_mode="stretch_width")
