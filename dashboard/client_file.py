"""A client's own file: the one read-only page a person of role ``client`` reaches.

Their application only (the ``client_id`` of their account; ``?client=`` naming anyone else is
refused before anything is read), in French or English: the decision, the principal reasons in
their words, what could change it, the data held about them with a download (JSON or CSV), and
how to ask for a person to review the decision. Everything comes from the decision service,
acting for the client, which checks again that the file is theirs (and records the read).
Nothing of other clients, no population view.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import pandas as pd
import panel as pn

from dashboard.decision_client import DecisionClient, DecisionError
from dashboard.i18n import N_, Language
from dashboard.page import Page
from dashboard.views.common import alert, card, html_pane, note, pairs_html
from dashboard.words import decision_words
from decisions.schemas import ClientProfile, DecisionOut, DecisionStatus, ScoreOut
from decisions.users import User

TITLE = N_("Your credit application")


@dataclass
class ClientRecord:
    """What the service holds about one client, as shown and downloaded."""

    client_id: int
    assessment: ScoreOut
    profile: ClientProfile
    decisions: list[DecisionOut] = field(default_factory=list)

    def as_dict(self, t: Language) -> dict:
        """The download: the data held, the assessment and the recorded decisions."""
        a = self.assessment
        return {"client_id": self.client_id, "data_held": self.profile.profile,
                "assessment": {"decision": a.decision, "probability_of_default": a.probability,
                               "threshold": a.threshold, "model_version": a.model.version,
                               "reasons": [getattr(r, t.code) for r in a.reasons],
                               "what_could_change_it": [getattr(p, t.code)
                                                        for p in a.recourse]},
                "decisions": [{"recorded_at": d.recorded_at, "decision": self.outcome(d),
                               "status": str(d.status)} for d in self.decisions
                              if d.status != DecisionStatus.REVIEW]}

    def latest(self) -> DecisionOut | None:
        """The newest decision (a supervisor's review is a record of its own, not one)."""
        return next((d for d in self.decisions if d.status != DecisionStatus.REVIEW), None)

    @staticmethod
    def outcome(d: DecisionOut) -> str:
        """What holds: an override a supervisor rejected leaves the model's decision."""
        return d.model_decision if d.status == DecisionStatus.REJECTED else d.final_decision

    def as_csv(self) -> str:
        """The data held, one row per field."""
        frame = pd.DataFrame({"field": list(self.profile.profile),
                              "value": list(self.profile.profile.values())})
        return frame.to_csv(index=False)


def read_record(service: DecisionClient, client_id: int) -> ClientRecord:
    return ClientRecord(client_id, service.assessment(client_id), service.profile(client_id),
                        service.history(client_id))


def _page(t: Language, account: str, *objects) -> pn.template.BootstrapTemplate:
    page = Page(title=t.gettext(TITLE), header=[pn.pane.HTML(account)],
                main=[pn.Column(*objects, sizing_mode="stretch_width")],
                header_background="#0b3d63", busy_indicator=None)
    page._render_variables["nav_label"] = t.gettext("Pages")
    return page


def no_access(t: Language) -> pn.template.BootstrapTemplate:
    """The page of someone logged in whose account gives no access to the dashboard."""
    return _page(t, '<a class="logout" href="/logout" style="color:white">'
                 + t.gettext("Log out") + "</a>", alert(t.gettext(
                     "Your account has no access to this dashboard: ask the bank to give you "
                     "a role.")))


@dataclass
class ClientFile:
    """One client's page (``page()``)."""

    service: DecisionClient | None
    t: Language
    who: User
    asked: str = ""
    account: str = ""

    def page(self) -> pn.template.BootstrapTemplate:
        return _page(self.t, self.account, *self.sections())

    def sections(self) -> list[pn.viewable.Viewable]:
        _ = self.t.gettext
        own = self.who.client_id
        if self.asked and self.asked != str(own):
            return [alert(_("You can only see your own application."), kind="danger")]
        if own is None or self.service is None:
            return [alert(_("No application is linked to your account."))]
        try:
            record = read_record(self.service, int(own))
        except DecisionError as err:
            return [alert(_("Your file cannot be read for now ({error}): try again later."
                            ).format(error=err))]
        return [self._decision(record), self._reasons(record), self._recourse(record),
                self._data(record), self._review(record)]

    def _decision(self, r: ClientRecord) -> pn.viewable.Viewable:
        t, _ = self.t, self.t.gettext
        latest = r.latest()
        if latest is not None and latest.status == DecisionStatus.PENDING:
            text = _("An advisor's decision on your application n° {id} is being checked by a "
                     "second person; the assessment proposes: **{decision}**.").format(
                id=r.client_id, decision=decision_words(t, r.assessment.decision))
        elif latest is not None:
            text = _("The decision on your application n° {id}: **{decision}**.").format(
                id=r.client_id, decision=decision_words(t, r.outcome(latest)))
        else:
            text = _("No decision is recorded yet on your application n° {id}; the assessment "
                     "proposes: **{decision}**.").format(
                id=r.client_id, decision=decision_words(t, r.assessment.decision))
        return card(_("Your decision"), note(text, css_classes=["own-decision"]),
                    css_class="own-decision-card")

    def _reasons(self, r: ClientRecord) -> pn.viewable.Viewable:
        _ = self.t.gettext
        lines = [f"- {getattr(reason, self.t.code)}" for reason in r.assessment.reasons]
        return card(_("The principal reasons"), note("\n".join(lines) or _(
            "No reason weighed against your application."), css_classes=["own-reasons"]))

    def _recourse(self, r: ClientRecord) -> pn.viewable.Viewable:
        t, _ = self.t, self.t.gettext
        if r.assessment.decision == "granted":
            text = _("Your application is granted as it stands.")
        elif r.assessment.recourse:
            text = "\n".join(f"- {getattr(p, t.code)}" for p in r.assessment.recourse)
        else:
            text = _("No single change we checked would turn the decision around; a person "
                     "can look at your situation as a whole (below).")
        return card(_("What could change it"), note(text, css_classes=["own-recourse"]))

    def _data(self, r: ClientRecord) -> pn.viewable.Viewable:
        _ = self.t.gettext
        data = r.as_dict(self.t)
        as_json = pn.widgets.FileDownload(
            callback=lambda: io.BytesIO(json.dumps(data, indent=2, ensure_ascii=False,
                                                   default=str).encode()),
            filename=f"application-{r.client_id}.json", label=_("Download (JSON)"),
            css_classes=["own-json"], button_type="primary")
        as_csv = pn.widgets.FileDownload(
            callback=lambda: io.BytesIO(r.as_csv().encode()),
            filename=f"application-{r.client_id}.csv", label=_("Download (CSV)"),
            css_classes=["own-csv"])
        return card(_("The data we hold about you"), html_pane(
            pairs_html(list(r.profile.profile.items()), _("Your application's data")),
            css_classes=["own-data"]), pn.Row(as_json, as_csv), css_class="own-data-card")

    def _review(self, r: ClientRecord) -> pn.viewable.Viewable:
        _ = self.t.gettext
        return card(_("Ask for a person to review the decision"), note(_(
            "You may ask for the decision to be reviewed by a person who did not take it: "
            "write to your advisor or to the bank's credit department, quoting application "
            "n° {id}, and add anything the data above does not show (a new income, a "
            "guarantor, an error). You get an answer within one month.").format(
            id=r.client_id), css_classes=["own-review"]))
