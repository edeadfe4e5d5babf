"""The comparisons page: the client among all clients and among similar clients, and two
features at once over a scored sample."""

from __future__ import annotations

import math

import hvplot.pandas  # noqa: F401  (registers .hvplot)
import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, Span
from bokeh.plotting import figure
from panel.viewable import Viewer

from dashboard.i18n import N_, Language
from dashboard.population import (
    GROUPS,
    OUTCOMES,
    GroupKey,
    Population,
    ScoredSample,
    group_key,
)
from dashboard.store import ClientScore
from dashboard.views.common import BLACK, BLUE, ORANGE, VERMILION, card, html_pane, note, table_html
from dashboard.words import (
    axis_label,
    display_value,
    display_values,
    feature_label,
    format_value,
    level,
)

#: Above this many points the bivariate plot is rasterized with datashader.
RASTER_ABOVE = 5_000
#: Criteria of similar clients as the page names them.
CRITERIA = {"contract type": N_("contract type"), "income type": N_("income type"),
            "age band": N_("age band"), "gender": N_("gender")}


def group_words(t: Language, key: GroupKey) -> str:
    """The group in words, e.g. 'clients with the same contract type (Cash loans)'."""
    _ = t.gettext
    if not key:
        return _("all clients")
    parts = []
    for criterion, value in key:
        column = GROUPS[criterion]
        shown = value if column == "AGE_BAND" else level(t, column, value)
        parts.append(_("the same {criterion} ({value})").format(
            criterion=_(CRITERIA[criterion]), value=shown))
    return _("clients with {parts}").format(parts=_(" and ").join(parts))


class PopulationView(Viewer):
    """A feature's distribution for repaid and defaulted clients, with the client marked, and
    the client next to similar clients.

    One Bokeh figure drawn once: its sources get new curves when the feature or the group
    changes, and only the client's marker moves when just the client does (a switch sends
    numbers, not a new plot).
    """

    store = param.ClassSelector(class_=ClientScore)
    feature = param.Selector(doc="Feature to compare.")
    criteria = param.ListSelector(default=["contract type", "age band"],
                                  objects=list(GROUPS), doc="Similar clients share these.")
    live = param.Boolean(default=True, doc="False while hidden: switching client skips it.")

    def __init__(self, population: Population, **params) -> None:
        super().__init__(**params)
        t = self.store.t
        _ = t.gettext
        self.population = population
        self.param.feature.objects = population.features
        self.param.feature.names = {axis_label(t, f): f for f in population.features}
        self._drawn: tuple = (None, None)  # (feature, group) of the curves on the figure
        self._sources = {name: ColumnDataSource({"x": [], "y": []})
                         for name in OUTCOMES.values()}
        fig = figure(height=320, sizing_mode="stretch_width", toolbar_location=None)
        fig.step("x", "y", source=self._sources["repaid"], mode="center", color=BLUE,
                 line_width=3, legend_label=_("repaid"))
        fig.step("x", "y", source=self._sources["defaulted"], mode="center", color=VERMILION,
                 line_width=3, line_dash="dashed", legend_label=_("defaulted"))
        fig.yaxis.axis_label = _("share of clients")
        fig.legend.location = "top_right"
        # The client's line is a span moved in place: switching client sends a number.
        self._marker = Span(location=0, dimension="height", line_color=BLACK, line_width=2,
                            line_dash="dotted", visible=False)
        fig.add_layout(self._marker)
        self._figure = fig
        self._title = note("")
        self._summary = note("", css_classes=["population-summary"])
        self._similar = html_pane()
        self._body = pn.Column(self._title, pn.pane.Bokeh(fig, sizing_mode="stretch_width"),
                               self._summary, self._similar, sizing_mode="stretch_width")
        self._hint = note(t.gettext("Choose a client to compare."))
        self.feature = population.features[0]  # draws

    def _draw_curves(self, feature: str, key: GroupKey) -> None:
        hist = self.population.histograms(feature, key)
        centre = ((hist["left"] + hist["right"]) / 2).tolist()
        for name in OUTCOMES.values():
            self._sources[name].data = {"x": centre, "y": hist[name].tolist()}
        self._figure.xaxis.axis_label = axis_label(self.store.t, feature)
        self._drawn = (feature, key)

    @param.depends("store.row", "feature", "criteria", "live", watch=True)
    def _update(self) -> None:
        if not self.live:  # hidden page: catch up when shown
            return
        t = self.store.t
        self._hint.visible = self.store.row is None
        self._body.visible = self.store.row is not None
        if self.store.row is None:
            return
        row = self.store.row.iloc[0]
        key = group_key(row, self.criteria)
        if self._drawn != (self.feature, key):
            self._draw_curves(self.feature, key)
        value = display_value(self.feature, row.get(self.feature))
        self._marker.update(location=0.0 if math.isnan(value) else value,
                            visible=not math.isnan(value))
        self._title.object = f"### {axis_label(t, self.feature)}: {group_words(t, key)}"
        self._summary.object = self._sentence(row, key, value)
        self._similar.object = self._table(row, key)

    def _sentence(self, row: pd.Series, key: tuple, value: float) -> str:
        t = self.store.t
        _ = t.gettext
        people, name = self.population, self.feature
        below = people.share_below(name, value, key)
        values = {"id": self.store.client_id, "label": feature_label(t, name),
                  "value": format_value(t, name, row.get(name)),
                  "share": t.percent(below) if not math.isnan(below) else "",
                  "n": t.number(people.size(key)), "group": group_words(t, key),
                  "repaid": t.short(people.median(name, key, 0)),
                  "defaulted": t.short(people.median(name, key, 1)),
                  "rate": t.percent(people.default_rate(key)),
                  "all": t.percent(people.default_rate())}
        text = _("Client {id}: {label} = {value}.").format(**values)
        if not math.isnan(value):
            text += " " + _("Dotted line: the client.")
        if not math.isnan(below):
            text += " " + _("Higher than {share} of the {n} {group}.").format(**values)
        return text + " " + _(
            "Median of these clients: {repaid} for those who repaid (solid blue line), "
            "{defaulted} for those who defaulted (dashed orange line); {rate} of them "
            "defaulted ({all} of all clients).").format(**values)

    def _table(self, row: pd.Series, key: tuple) -> str:
        t = self.store.t
        _ = t.gettext
        compared = self.population.compare(row, key)
        shown = pd.DataFrame({
            _("feature"): [axis_label(t, f) for f in compared["feature"]],
            _("this client"): [t.short(v) for v in compared["client"]],
            _("similar clients (median)"): [t.short(v) for v in compared["similar"]],
            _("all clients (median)"): [t.short(v) for v in compared["all"]]})
        return table_html(shown, _("Client {id} next to the {n} {group}").format(
            id=self.store.client_id, n=t.number(self.population.size(key)),
            group=group_words(t, key)))

    def __panel__(self) -> pn.viewable.Viewable:
        _ = self.store.t.gettext
        criteria = pn.widgets.CheckBoxGroup.from_param(
            self.param.criteria, label=_("Similar clients share"), inline=True)
        criteria.options = {_(CRITERIA[c]): c for c in GROUPS}
        return card(_("The client among all clients"),
                    pn.Row(pn.widgets.Select.from_param(self.param.feature,
                                                        label=_("Feature")),
                           pn.Column(note(_("Similar clients share:")), criteria)),
                    self._hint, self._body)


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
            self.param[name].names = {axis_label(self.store.t, f): f for f in features}
        self.drawn_ready = False  # whether the last drawing had the scored sample
        self._star = ColumnDataSource({"x": [], "y": []})
        self._text = note("", css_classes=["bivariate-text"])
        self._cached: tuple = (None, None, float("nan"))
        self.param.update(x=features[0], y=features[min(3, len(features) - 1)])  # draws

    @param.depends("x", "y", "refresh")
    def _plot(self) -> pn.viewable.Viewable:
        t = self.store.t
        _ = t.gettext
        self.drawn_ready = self.sample.ready
        if not self.sample.ready:
            return note(_("Scoring a sample of {n} clients with the model server for this "
                          "plot… it appears when done.").format(n=t.number(self.sample.size)))
        data = self._data()
        xl, yl = data.columns[:2]
        many = len(data) > RASTER_ABOVE
        title = _("{n} sampled clients, coloured by probability").format(
            n=t.number(len(data)))
        options = dict(x=xl, y=yl, c="probability", cmap="cividis", responsive=True,
                       height=420, clabel=_("probability of default"), colorbar=True,
                       title=title + (" " + _("(mean per pixel)") if many else ""))
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
        t = self.store.t
        if self._cached[0] != (self.x, self.y):
            frame = self.sample.frame
            data = pd.DataFrame({axis_label(t, self.x): display_values(self.x, frame[self.x]),
                                 axis_label(t, self.y): display_values(self.y, frame[self.y]),
                                 "probability": frame["probability"].to_numpy()}).dropna()
            self._cached = ((self.x, self.y), data, data.iloc[:, 0].corr(data.iloc[:, 1]))
        return self._cached[1]

    @param.depends("store.row", "x", "y", "refresh", "live", watch=True)
    def _update(self) -> None:
        if not (self.live and self.sample.ready):
            return
        t = self.store.t
        _ = t.gettext
        data = self._data()
        text = _("{n} sampled clients; correlation between the two features {r}.").format(
            n=t.number(len(data)), r=t.number(self._cached[2], 2))
        if self.store.row is not None:
            row = self.store.row.iloc[0]
            cx = display_value(self.x, row.get(self.x))
            cy = display_value(self.y, row.get(self.y))
            shown = not (math.isnan(cx) or math.isnan(cy))
            self._star.data = {"x": [cx] if shown else [], "y": [cy] if shown else []}
            values = {"id": self.store.client_id,
                      "x": format_value(t, self.x, row.get(self.x)),
                      "y": format_value(t, self.y, row.get(self.y))}
            text += " " + (_("Client {id} (orange star): {x} and {y}.") if shown else
                           _("Client {id} has no value for one of the two features.")
                           ).format(**values)
        self._text.object = text

    def __panel__(self) -> pn.viewable.Viewable:
        _ = self.store.t.gettext
        return card(_("Two features at once"),
                    pn.Row(pn.widgets.Select.from_param(self.param.x,
                                                        label=_("Horizontal axis")),
                           pn.widgets.Select.from_param(self.param.y, label=_("Vertical axis"))),
                    self._plot, self._text)
