"""The decision card: confirm or override the model's decision (a reason is required to
override) through the decision service, and the client's earlier decisions."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from dashboard.desk import OVERRIDE_REASONS, DecisionDesk
from dashboard.i18n import N_, Language
from dashboard.views.common import alert, card, heading, html_pane, note, table_html
from dashboard.words import decision_words
from decisions.schemas import DecisionOut, DecisionStatus

#: Where an override stands under four eyes (a supervisor's review is its own record).
STATUS_WORDS = {DecisionStatus.PENDING: N_("waiting for a supervisor"),
                DecisionStatus.CONFIRMED: N_("confirmed by a supervisor"),
                DecisionStatus.REJECTED: N_("rejected: the model's decision holds")}


def override_reason(t: Language, d: DecisionOut) -> str:
    """The override's reason in words and the advisor's explanation ('' for none)."""
    if not d.override_reason_code:
        return ""
    code = next((c for c in OVERRIDE_REASONS if c.value == d.override_reason_code), None)
    return (t.gettext(OVERRIDE_REASONS[code]) if code else d.override_reason_code) + \
        (f": {d.override_reason_text}" if d.override_reason_text else "")


class DecisionPanel(Viewer):
    """Confirm, or override with a reason, and the earlier decisions of the client."""

    desk = param.ClassSelector(class_=DecisionDesk)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        t = self.desk.t
        _ = t.gettext
        self.confirm = pn.widgets.Button(label=_("Confirm the model's decision"),
                                         color="primary", css_classes=["decision-confirm"],
                                         width=340, sizing_mode="fixed")
        self.confirm.on_click(lambda _e: self.desk.confirm())
        choose = _("— choose a reason —")
        self.reason = pn.widgets.Select(
            label=_("Reason for overriding"), css_classes=["override-reason"],
            options={choose: "", **{_(words): code.value
                                    for code, words in OVERRIDE_REASONS.items()}})
        self.text = pn.widgets.TextAreaInput(label=_("Explanation (required to override)"),
                                             max_length=2000, height=90,
                                             css_classes=["override-text"])
        self.override = pn.widgets.Button(label=_("Override the model's decision"),
                                          color="warning", css_classes=["decision-override"],
                                          width=340, sizing_mode="fixed")
        self.override.on_click(lambda _e: self._override())
        self._model = note("", css_classes=["model-decision"])
        self._status = pn.pane.HTML("", sizing_mode="stretch_width")
        self._history = html_pane(css_classes=["decision-history"])
        # Panes made once and shown or hidden: a switch sends their text, not new panes.
        self._message = alert("")
        self._unavailable = note(_("No decision service is configured: decisions cannot be "
                                   "recorded here."), visible=not self.desk.available)
        self._form = pn.Column(
            self._model, pn.Row(self.confirm),
            note(_("Or override it (the final decision becomes the opposite one):")),
            pn.Row(self.reason, self.text, sizing_mode="stretch_width"), pn.Row(self.override),
            sizing_mode="stretch_width")
        self._layout = card(_("Your decision"), self._unavailable, self._message, self._form,
                            self._status, self._history, css_class="decision-card")
        self._update()
        self._feedback()

    def _override(self) -> None:
        if self.desk.override(self.reason.value, self.text.value):
            self.reason.value, self.text.value = "", ""

    @param.depends("desk.assessment", "desk.history", "desk.message", watch=True)
    def _update(self) -> None:
        t = self.desk.t
        _ = t.gettext
        desk = self.desk
        self._message.param.update(object=desk.message, visible=bool(desk.message))
        self._form.visible = desk.assessment is not None
        if desk.assessment is not None:
            self._model.object = _("The model proposes: **{decision}**.").format(
                decision=decision_words(t, desk.assessment.decision))
        self._history.object = self._table() if desk.history else (
            "<p>" + _("No earlier decision for this client.") + "</p>"
            if desk.client_id is not None and desk.available else "")

    @param.depends("desk.saved", "desk.error", watch=True)
    def _feedback(self) -> None:
        text, colour = (self.desk.error, "#8a2b00") if self.desk.error else \
            (self.desk.saved, "#1a1a1a")
        self._status.object = (f'<p role="status" class="decision-status" style="color:{colour};'
                               f'font-weight:bold">{text}</p>') if text else \
            '<p role="status" class="decision-status"></p>'

    def _table(self) -> str:
        t = self.desk.t
        _ = t.gettext
        rows = [{_("date"): t.datetime(datetime.fromisoformat(d.recorded_at)),
                 _("advisor"): d.advisor,
                 _("model"): decision_words(t, d.model_decision),
                 _("final decision"): decision_words(t, d.final_decision),
                 _("override reason"): override_reason(t, d),
                 _("four eyes"): _(STATUS_WORDS.get(d.status, ""))}
                for d in self.desk.history if d.status != DecisionStatus.REVIEW]
        return table_html(pd.DataFrame(rows), _("Earlier decisions for this client"))

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


class ClientReasons(Viewer):
    """The principal reasons in the client's words (the decision service's catalogue)."""

    desk = param.ClassSelector(class_=DecisionDesk)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._text = note("", css_classes=["client-reasons"])
        self._layout = pn.Column(heading(self.desk.t.gettext("In the client's words"), 3),
                                 self._text, sizing_mode="stretch_width")
        self._update()

    @param.depends("desk.assessment", watch=True)
    def _update(self) -> None:
        a = self.desk.assessment
        self._layout.visible = bool(a is not None and a.reasons)
        if self._layout.visible:
            self._text.object = "\n".join(f"- {getattr(r, self.desk.t.code)}"
                                          for r in a.reasons)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


class ServiceRecourse(Viewer):
    """The decision service's verified changes that would grant a refused application."""

    desk = param.ClassSelector(class_=DecisionDesk)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._text = note("", css_classes=["service-recourse"])
        self._layout = pn.Column(heading(self.desk.t.gettext(
            "Verified proposals (amounts changed together)"), 3), self._text,
            sizing_mode="stretch_width")
        self._update()

    @param.depends("desk.assessment", watch=True)
    def _update(self) -> None:
        a = self.desk.assessment
        self._layout.visible = bool(a is not None and a.recourse)
        if self._layout.visible:
            t = self.desk.t
            self._text.object = "\n".join(
                "- " + t.gettext("{proposal} (probability of default {p})").format(
                    proposal=getattr(p, t.code), p=t.percent(p.probability))
                for p in a.recourse)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
