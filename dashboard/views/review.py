"""The supervisor's page: overrides waiting for a second person (four eyes), confirmed or
rejected with a comment. The decision service refuses a review by the advisor who made the
override; the page does not even offer it."""

from __future__ import annotations

import html
from datetime import datetime

import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from dashboard.decision_client import DecisionError
from dashboard.i18n import Language
from dashboard.views.common import card, html_pane, note, table_html
from dashboard.views.decision import override_reason
from dashboard.words import decision_words


class PendingOverrides(Viewer):
    """The pending overrides, and a form to confirm or reject one of them."""

    service = param.Parameter(doc="the decision service acting for the supervisor")
    t = param.ClassSelector(class_=Language)
    me = param.String(doc="the supervisor logged in (their own overrides are not offered)")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        _ = self.t.gettext
        self._table = html_pane(css_classes=["pending-overrides"])
        self.choice = pn.widgets.Select(label=_("Override to review"),
                                        css_classes=["review-choice"])
        self.comment = pn.widgets.TextAreaInput(label=_("Comment (required)"), max_length=2000,
                                                height=80, css_classes=["review-comment"])
        self.confirm = pn.widgets.Button(label=_("Confirm the override"), color="primary",
                                         css_classes=["review-confirm"])
        self.reject = pn.widgets.Button(label=_("Reject the override"), color="warning",
                                        css_classes=["review-reject"])
        self.confirm.on_click(lambda _e: self._review("confirm"))
        self.reject.on_click(lambda _e: self._review("reject"))
        self._status = pn.pane.HTML("", sizing_mode="stretch_width")
        self._form = pn.Column(self.choice, self.comment, pn.Row(self.confirm, self.reject),
                               sizing_mode="stretch_width")
        self._layout = card(_("Overrides to review"), note(_(
            "An advisor's override takes effect once another person confirms it. You cannot "
            "review your own overrides.")), self._table, self._form, self._status,
            css_class="review-card")
        self.refresh()

    def refresh(self) -> None:
        """Read the pending overrides again."""
        _ = self.t.gettext
        try:
            pending = self.service.pending() if self.service is not None else []
        except DecisionError as err:
            self._table.object = "<p>" + _("The decision service does not answer ({error})."
                                           ).format(error=err) + "</p>"
            self._form.visible = False
            return
        mine = [d for d in pending if d.advisor != self.me]
        self._table.object = self._html(pending) if pending else \
            "<p>" + _("No override is waiting for a review.") + "</p>"
        self.choice.options = {self._label(d): d.id for d in mine}
        self._form.visible = bool(mine)

    def _label(self, d) -> str:
        return self.t.gettext("record {id}: client {client}, by {advisor}").format(
            id=d.id, client=d.client_id, advisor=d.advisor)

    def _html(self, pending) -> str:
        t = self.t
        _ = t.gettext
        rows = []
        for d in pending:
            rows.append({_("record"): d.id,
                         _("date"): t.datetime(datetime.fromisoformat(d.recorded_at)),
                         _("client"): d.client_id, _("advisor"): d.advisor,
                         _("model"): decision_words(t, d.model_decision),
                         _("final decision"): decision_words(t, d.final_decision),
                         _("override reason"): override_reason(t, d)})
        return table_html(pd.DataFrame(rows), _("Overrides waiting for a second person"))

    def _review(self, verdict: str) -> None:
        _ = self.t.gettext
        if self.choice.value is None:
            return self._say(_("Choose an override first."), error=True)
        if not (self.comment.value or "").strip():
            return self._say(_("Write a comment: it goes into the record."), error=True)
        try:
            self.service.review(self.choice.value, verdict, self.comment.value.strip())
        except DecisionError as err:
            return self._say(_("The review was not recorded: {error}").format(error=err),
                             error=True)
        words = {"confirm": _("Override {id} confirmed."), "reject": _("Override {id} rejected.")}
        self._say(words[verdict].format(id=self.choice.value))
        self.comment.value = ""
        self.refresh()

    def _say(self, text: str, error: bool = False) -> None:
        colour = "#8a2b00" if error else "#1a1a1a"
        self._status.object = (f'<p role="status" class="review-status" style="color:{colour};'
                               f'font-weight:bold">{html.escape(text)}</p>')

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
