"""The client page: search and recent clients, the decision and its gauge, the principal
reasons, what could change the decision, and the client's profile."""

from __future__ import annotations

import html
import math

import panel as pn
import param
from bokeh.models import ColumnDataSource, Span
from bokeh.plotting import figure
from panel.viewable import Viewer

from dashboard.i18n import Language
from dashboard.population import IdIndex
from dashboard.sensitivity import ACTIONABLE
from dashboard.store import ClientScore, ServerStatus
from dashboard.views.common import (
    BLACK,
    BLUE,
    ORANGE,
    SKY,
    TEXT,
    VERMILION,
    alert,
    bokeh,
    card,
    heading,
    html_pane,
    note,
    pairs_html,
)
from dashboard.words import (
    decision_text,
    distance_text,
    feature_label,
    profile,
    reason_sentence,
    recourse_sentences,
)
from serving.client import Score

# --- finding a client ------------------------------------------------------------------------

class SearchBox(pn.widgets.AutocompleteInput):
    """The client search box, handled at once: Panel waits 50 ms for more changes of a
    widget before handling them, a sixth of a switch's budget."""

    _debounce = 0


class ClientButtons(pn.widgets.RadioButtonGroup):
    """The recent clients' buttons, handled at once (as ``SearchBox``)."""

    _debounce = 0


def switch(store: ClientScore, text: str) -> None:
    """Choose a client, sending the browser every change of the switch in one message (one
    patch to apply and one layout pass, where each pane's change was a message of its own)."""
    with pn.io.hold():
        store.select(text)



class ClientPicker(Viewer):
    """Type or search a client number; an unknown or malformed number gets a clear message."""

    store = param.ClassSelector(class_=ClientScore)

    def __init__(self, index: IdIndex, **params) -> None:
        super().__init__(**params)
        _ = self.store.t.gettext
        self.index = index
        example = index.matches("1", 1)[0] if len(index) else "100002"
        self.input = SearchBox(
            label=_("Client number"), placeholder=_("e.g. {id}").format(id=example),
            restrict=False, min_characters=2, case_sensitive=False,
            search_strategy="starts_with", options=[], sizing_mode="stretch_width",
            css_classes=["client-search"])
        self.input.param.watch(self._suggest, "value_input")
        self.input.param.watch(lambda e: switch(self.store, e.new), "value")
        self._help = note(_("{n} clients. Type a few digits to see matching numbers, then "
                            "press Enter.").format(n=self.store.t.number(len(index))),
                          css_classes=["search-help"])

    def _suggest(self, event: param.parameterized.Event) -> None:
        self.input.options = self.index.matches(event.new or "")

    @param.depends("store.message")
    def _message(self) -> pn.viewable.Viewable:
        return alert(self.store.message) if self.store.message else pn.Spacer(height=0)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.input, self._help, self._message, sizing_mode="stretch_width")


#: The recent clients' buttons wrap, a few per line, like separate buttons.
RECENT_CSS = """
.bk-btn-group { flex-wrap: wrap; gap: 0.3rem; }
.bk-btn-group > .bk-btn { flex: 0 0 104px; border-radius: 4px !important; margin: 0 !important; }
"""


class RecentClients(Viewer):
    """The clients chosen in this session, latest first (marked as the current one): one
    button each, in one button group whose options change on a switch (one property sent,
    where a button per client cost a widget update each)."""

    store = param.ClassSelector(class_=ClientScore)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._group = ClientButtons(options=[], color="light", css_classes=["recent-client"],
                                    stylesheets=[RECENT_CSS], sizing_mode="stretch_width")
        self._group.param.watch(self._open, "value")
        self._layout = pn.Column(heading(self.store.t.gettext("Recent clients")), self._group,
                                 sizing_mode="stretch_width")
        self._update()

    def _open(self, event: param.parameterized.Event) -> None:
        if event.new and event.new != str(self.store.client_id):
            switch(self.store, event.new)

    @param.depends("store.recent", watch=True)
    def _update(self) -> None:
        recent = [str(c) for c in self.store.recent]
        self._layout.visible = bool(recent)
        self._group.param.update(options=recent, value=recent[0] if recent else None)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


class ServerState(Viewer):
    """The model server's state for the header, in words and with an icon (one pane whose
    text changes)."""

    status = param.ClassSelector(class_=ServerStatus)
    t = param.ClassSelector(class_=Language)
    version = param.String(default="")
    links = param.String(default="", doc="HTML of the language links shown after the state.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._pane = pn.pane.HTML("", styles={"font-size": "1rem"}, margin=(0, 10))
        self._update()

    @param.depends("status.ok", "links", "version", watch=True)
    def _update(self) -> None:
        _ = self.t.gettext
        state = _("✔ model server available") if self.status.ok else \
            _("✖ model server not answering")
        model = _("Model version {v}").format(v=self.version) if self.version else \
            _("No champion model found")
        self._pane.object = (
            f'<div style="display:flex;gap:2rem;align-items:center;color:white">'
            f'<p class="server-state" role="status" style="margin:0">{model} · {state}</p>'
            f'{self.links}</div>')

    def __panel__(self) -> pn.viewable.Viewable:
        return self._pane


class ServerBanner(Viewer):
    """A banner while the model server does not answer; it goes away by itself."""

    status = param.ClassSelector(class_=ServerStatus)
    t = param.ClassSelector(class_=Language)

    @param.depends("status.ok")
    def __panel__(self) -> pn.viewable.Viewable:
        if self.status.ok:
            return pn.Spacer(height=0)
        return alert(self.t.gettext(
            "**The model server is not answering.** Scores, reasons and what-if results are "
            "unavailable for now; client information and comparisons still work. The page "
            "checks again every few seconds and recovers by itself."), kind="danger")


# --- the decision ----------------------------------------------------------------------------

#: Orange with dark hatching: the refused part of the gauge (colour never alone).
HATCHED = (f"repeating-linear-gradient(45deg, {ORANGE}80 0 6px, {TEXT}4d 6px 8px)")


def _at(x: float, low: float, high: float) -> str:
    """The CSS position of ``x`` on a scale from ``low`` to ``high``."""
    return f"{100 * (x - low) / (high - low):.2f}%"


def _box(left: str, width: str, style: str) -> str:
    return (f'<div style="position:absolute;left:{left};width:{width};top:0;bottom:0;'
            f'{style}"></div>')


class Gauge:
    """A linear gauge of the probability of default with the threshold marked, as HTML: a
    switch sends one pane's text, where a Bokeh figure repainted its axis, legend and labels,
    each paint reading the page's styles again (half of the browser's work of a switch).

    The scale ends at a round value above both the threshold and the probability, so a
    threshold of a few percent is not squashed against zero.
    """

    def __init__(self, t: Language) -> None:
        self.t = t
        self.pane = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["gauge"])

    def update(self, score: Score) -> None:
        _, t = self.t.gettext, self.t
        top = max(3 * score.threshold, 1.25 * score.probability, 0.05)
        step = 0.05 if top <= 0.5 else 0.1
        upper = min(1.0, math.ceil(top / step) * step)
        shown = min(score.probability, upper)
        threshold, value = _at(score.threshold, 0, upper), _at(shown, 0, upper)
        client = " " + _("client {p}").format(p=t.percent(score.probability))
        line = _("threshold {p}").format(p=t.percent(score.threshold))
        # The client's label runs left of its mark near the right end, so it stays inside.
        flip = "transform:translateX(-100%);" if shown > 0.7 * upper else ""
        count = round(upper / step)
        every = 1 if count <= 8 else 2
        ticks = "".join(
            f'<span style="position:absolute;left:{_at(k * step, 0, upper)};'
            f'transform:translateX(-{50 if 0 < k < count else 100 * (k == count)}%)">'
            f"{t.percent(k * step)}</span>" for k in range(0, count + 1, every))
        legend = "".join(
            f'<span style="margin-right:1.2rem"><span style="display:inline-block;width:1rem;'
            f'height:0.8rem;vertical-align:middle;margin-right:0.3rem;{style}"></span>'
            f"{html.escape(text)}</span>"
            for style, text in ((f"background:{SKY}80", _("granted below the threshold")),
                                (f"background:{HATCHED}", _("refused at or above"))))
        self.pane.object = (
            f'<div role="img" aria-label="{html.escape(_("Probability of default"))}: '
            f'{html.escape(client.strip())}, {html.escape(line)}" '
            f'style="color:{TEXT};font-size:0.9rem;max-width:60rem">'
            f'<div style="font-weight:bold;font-size:1rem">'
            f'{html.escape(_("Probability of default"))}</div>'
            f'<div style="position:relative;height:2.2rem;margin:1.5rem 0 1.8rem">'
            + _box("0", threshold, f"background:{SKY}80")
            + _box(threshold, f"calc(100% - {threshold})", f"background:{HATCHED}")
            + f'<div style="position:absolute;left:0;width:{value};top:38%;height:24%;'
            f'background:{TEXT}"></div>'
            f'<div style="position:absolute;left:{threshold};top:-1.5rem;bottom:-0.3rem;'
            f'border-left:3px dashed {BLACK}"></div>'
            f'<span style="position:absolute;left:{threshold};top:-1.5rem;padding-left:0.4rem;'
            f'white-space:nowrap">{html.escape(line)}</span>'
            f'<span style="position:absolute;left:{value};bottom:-1.6rem;white-space:nowrap;'
            f'font-weight:bold;{flip}">{html.escape(client)}</span></div>'
            f'<div style="position:relative;height:1.2rem">{ticks}</div>'
            f'<div style="margin-top:0.4rem">{legend}</div></div>')


class ScoreCard(Viewer):
    """The decision in words with an icon, how far the client is from the threshold, and the
    probability on a gauge."""

    store = param.ClassSelector(class_=ClientScore)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._title = note("", css_classes=["client-title"])
        self._decision = pn.pane.Markdown("", css_classes=["decision"], styles=self._style())
        self._distance = note("", css_classes=["distance"])
        self._gauge = Gauge(self.store.t)
        self._scored = pn.Column(self._decision, self._distance, self._gauge.pane,
                                 sizing_mode="stretch_width")
        self._layout = pn.Column(self._title, self._scored, sizing_mode="stretch_width")
        self._update()

    @staticmethod
    def _style(decision: str = "granted") -> dict[str, str]:
        edge = BLUE if decision == "granted" else VERMILION
        return {"font-size": "1.6rem", "font-weight": "bold", "color": TEXT,
                "border-left": f"0.5rem solid {edge}", "padding-left": "0.6rem"}

    @param.depends("store.result", "store.row", watch=True)
    def _update(self) -> None:
        _ = self.store.t.gettext
        score = self.store.result
        if self.store.row is None:
            self._title.object = _("Choose a client in the search box to see the decision.")
        else:
            self._title.object = "## " + _("Client {id}").format(id=self.store.client_id)
            if score is None:
                self._title.object += "\n\n" + _("Score unavailable: the model server has "
                                                 "not answered for this client.")
        if score is not None:
            self._decision.param.update(object=decision_text(self.store.t, score),
                                        styles=self._style(score.decision))
            self._distance.object = distance_text(self.store.t, score)
            self._gauge.update(score)
        self._scored.visible = score is not None

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


class ClientProfile(Viewer):
    """The client's main application fields with readable labels and units."""

    store = param.ClassSelector(class_=ClientScore)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._table = html_pane()
        self._layout = card(self.store.t.gettext("Profile"), self._table,
                            css_class="profile")
        self._update()

    @param.depends("store.row", watch=True)
    def _update(self) -> None:
        t = self.store.t
        self._layout.visible = self.store.row is not None
        if self.store.row is None:
            return
        row = self.store.row.iloc[0]
        outcome = {0: t.gettext("repaid"), 1: t.gettext("had payment difficulties")}.get(
            None if row.get("TARGET") is None or row.get("TARGET") != row.get("TARGET")
            else int(row["TARGET"]), t.gettext("not known yet"))
        pairs = [*profile(t, row), (t.gettext("Outcome in the data"), outcome)]
        self._table.object = pairs_html(pairs, t.gettext("Application of client {id}").format(
            id=self.store.client_id))

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


# --- reasons ---------------------------------------------------------------------------------

def _wrap(text: str, width: int = 38) -> str:
    """A label on several lines of at most ``width`` characters (never cut off)."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line])


class Waterfall:
    """The client's top contributions stacked from the rest of the model (average client and
    other features) to the client's risk score (log-odds; right is riskier), as HTML: one
    row per step, a bar from the risk before it to the risk after it (as ``Gauge``: one
    pane's text per switch, no figure to repaint)."""

    def __init__(self, t: Language, rows: int) -> None:
        self.t = t
        self.pane = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["waterfall"])

    def update(self, score: Score) -> None:
        _ = self.t.gettext
        reasons = score.reasons
        total = math.log(score.probability / (1 - score.probability))
        level = total - sum(r["contribution"] for r in reasons)
        labels = [_("Average client and other features")] + [
            feature_label(self.t, r["feature"]) for r in reasons] + [_("This client")]
        labels = [f"{i + 1}. {label}" for i, label in enumerate(labels)]
        ends = [(level, f"{level:+.2f}"),
                (total, f"{total:+.2f} ({self.t.percent(score.probability)})")]
        steps = []
        for r in reasons:
            c = r["contribution"]
            steps.append((min(level, level + c), max(level, level + c), c))
            level += c
        low = min([x for x, _t in ends] + [a for a, _b, _c in steps])
        high = max([x for x, _t in ends] + [b for _a, b, _c in steps])
        pad = 0.05 * (high - low) + 0.05
        low, high = low - pad, high + 8 * pad  # room for the texts right of the bars

        def row(label: str, mark: str, text: str, at: float) -> str:
            return (f'<div style="display:grid;grid-template-columns:minmax(8rem,38%) 1fr;'
                    f'align-items:center;min-height:2rem;border-top:1px solid #e0e0e0">'
                    f'<span style="padding-right:0.6rem">{html.escape(label)}</span>'
                    f'<div style="position:relative;height:1.6rem">{mark}'
                    f'<span style="position:absolute;left:{_at(at, low, high)};top:50%;'
                    f'transform:translateY(-50%);padding-left:0.7rem;white-space:nowrap">'
                    f'{html.escape(text)}</span></div></div>')

        def diamond(x: float) -> str:
            return (f'<span aria-hidden="true" style="position:absolute;left:{_at(x, low, high)};'
                    f'top:50%;transform:translate(-50%,-50%);font-size:1.1rem">◆</span>')

        body = [row(labels[0], diamond(ends[0][0]), ends[0][1], ends[0][0])]
        for label, (left, right, c) in zip(labels[1:-1], steps, strict=True):
            # Raising steps are hatched as well as coloured: colour never carries meaning alone.
            colour = (f"background:repeating-linear-gradient(45deg,#0000 0 6px,#fff9 6px 7px),"
                      f"{VERMILION}") if c > 0 else f"background:{BLUE}"
            bar = _box(_at(left, low, high), f"{100 * (right - left) / (high - low):.2f}%",
                       f"top:15%;bottom:15%;{colour}")
            text = f"{c:+.2f} " + (_("▲ raises") if c > 0 else _("▼ lowers"))
            body.append(row(label, bar, text, right))
        body.append(row(labels[-1], diamond(ends[1][0]), ends[1][1], ends[1][0]))
        self.pane.object = (
            f'<figure style="margin:0.4rem 0;color:{TEXT};font-size:0.85rem">'
            f'<figcaption style="font-weight:bold;font-size:1rem;margin-bottom:0.3rem">'
            f'{html.escape(_("How each feature moved the risk"))}</figcaption>{"".join(body)}'
            f'<div style="border-top:1px solid #e0e0e0;padding-top:0.2rem">'
            f'{html.escape(_("risk score (log-odds of default): right = riskier"))}</div>'
            f'</figure>')


class Reasons(Viewer):
    """The principal reasons as plain sentences, and (``chart``) as a waterfall."""

    store = param.ClassSelector(class_=ClientScore)
    top = param.Integer(default=5, bounds=(1, 10))
    chart = param.Boolean(default=True)
    extra = param.List(default=[], doc="More content of the card (client's words).")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._sentences = note("", css_classes=["reasons"])
        parts = [self._sentences]
        self._waterfall = Waterfall(self.store.t, self.top) if self.chart else None
        parts += self.extra
        if self._waterfall:
            parts.append(self._waterfall.pane)
        self._layout = card(self.store.t.gettext("Principal reasons"), *parts,
                            css_class="reasons-card")
        self._update()

    @param.depends("store.result", watch=True)
    def _update(self) -> None:
        score = self.store.result
        self._layout.visible = bool(score is not None and score.reasons)
        if not self._layout.visible:
            return
        top = Score(**{**score.__dict__, "reasons": score.reasons[:self.top]})
        self._sentences.object = "\n".join(f"1. {reason_sentence(self.store.t, r)}"
                                           for r in top.reasons)
        if self._waterfall:
            self._waterfall.update(top)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


# --- what could change the decision -----------------------------------------------------------

class Recourse(Viewer):
    """What could change the decision, from one batch of variants scored by the model
    server."""

    store = param.ClassSelector(class_=ClientScore)
    extra = param.List(default=[], doc="More content of the card (verified proposals).")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._text = note("", css_classes=["recourse"])
        self._layout = card(self.store.t.gettext("What could change the decision"),
                            heading(self.store.t.gettext("One amount at a time"), 3),
                            self._text, *self.extra, css_class="recourse-card")
        self._update()

    @param.depends("store.curves", "store.result", watch=True)
    def _update(self) -> None:
        _ = self.store.t.gettext
        self._layout.visible = self.store.result is not None
        if self.store.result is None:
            return
        if self.store.curves is None:
            self._text.object = _("Computing what could change the decision…")
            return
        self._text.object = "\n".join(f"- {s}" for s in
                                      recourse_sentences(self.store.t, self.store.curves))

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


class SensitivityView(Viewer):
    """The probability of default against each actionable field, all else equal, with the
    threshold and the client's own value drawn."""

    store = param.ClassSelector(class_=ClientScore)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        t = self.store.t
        _ = t.gettext
        self._sources = {f: ColumnDataSource({"x": [], "y": []}) for f in ACTIONABLE}
        self._figures = {}
        self._spans = {}
        self._marks = {}
        for name in ACTIONABLE:
            fig = figure(height=260, sizing_mode="stretch_width",
                         title=feature_label(t, name))
            fig.line("x", "y", source=self._sources[name], line_width=3, color=BLUE)
            fig.scatter("x", "y", source=self._sources[name], size=6, color=BLUE)
            self._spans[name] = Span(location=0, dimension="width", line_color=VERMILION,
                                     line_dash="dashed", line_width=2)
            self._marks[name] = Span(location=0, dimension="height", line_color=BLACK,
                                     line_dash="dotted", line_width=2)
            fig.add_layout(self._spans[name])
            fig.add_layout(self._marks[name])
            fig.yaxis.formatter = t.ticks("0.0%")
            fig.xaxis.formatter = t.ticks("0,0")
            fig.y_range.start = 0
            fig.yaxis.axis_label = _("probability of default")
            fig.xaxis.axis_label = _("amount (dotted: the client's; dashed: the threshold)")
            self._figures[name] = fig
        self._text = note("", css_classes=["sensitivity"])
        self._plots = pn.FlexBox(*[pn.Column(bokeh(f), width=420)
                                   for f in self._figures.values()])
        self._layout = card(_("How the probability moves with one field, all else equal"),
                            self._text, self._plots, css_class="sensitivity-card")
        self._update()

    @param.depends("store.curves", watch=True)
    def _update(self) -> None:
        _ = self.store.t.gettext
        curves = self.store.curves
        self._plots.visible = curves is not None
        if curves is None:
            self._text.object = _("Choose a client to see how the probability moves.") \
                if self.store.row is None else _("Computing…")
            return
        for name in ACTIONABLE:
            part = curves.field(name)
            self._sources[name].data = {"x": part["value"].tolist(),
                                        "y": part["probability"].tolist()}
            self._spans[name].location = curves.threshold
            top = max([curves.threshold, *part["probability"]])
            self._figures[name].y_range.update(start=0, end=1.15 * top)
            current = part.loc[part["factor"].sub(1).abs().idxmin(), "value"] \
                if len(part) else 0
            self._marks[name].location = float(current)
        self._text.object = "\n".join(
            [_("Each curve changes one field from a quarter to twice the client's value; the "
               "dashed line is the threshold of {p}: below it the loan is granted.").format(
                p=self.store.t.percent(curves.threshold)), ""]
            + [f"- {s}" for s in recourse_sentences(self.store.t, curves)])

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

