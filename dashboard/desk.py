"""The advisor's desk: the chosen client's assessment by the decision service, the decision
to confirm or override, and the client's earlier decisions.

Panel's DataStore pattern, like ``store.py``: ``DecisionDesk`` owns the data and talks to its
collaborator (``decision_client.DecisionClient`` or a stand-in with the same three methods);
the views in ``views/decision.py`` only watch it.
"""

from __future__ import annotations

from typing import Any, Protocol

import param

from dashboard.decision_client import DecisionError
from dashboard.i18n import N_, Language, language
from decisions.schemas import DecisionOut, OverrideReason, ScoreOut

#: Override reason codes of the service as an advisor reads them.
OVERRIDE_REASONS = {
    OverrideReason.ADDITIONAL_INCOME_PROOF: N_("Proof of additional income"),
    OverrideReason.GUARANTOR_OR_COLLATERAL: N_("Guarantor or collateral"),
    OverrideReason.DATA_ERROR: N_("Error in the application data"),
    OverrideReason.LONG_STANDING_CLIENT: N_("Long-standing client"),
    OverrideReason.AFFORDABILITY_CONCERN: N_("Concern about affordability"),
    OverrideReason.FRAUD_SUSPICION: N_("Suspicion of fraud"),
    OverrideReason.POLICY_EXCEPTION: N_("Exception to the lending policy"),
    OverrideReason.OTHER: N_("Other reason"),
}


class Decisions(Protocol):
    """What the desk needs of ``DecisionClient``."""

    def assessment(self, client_id: int) -> ScoreOut: ...

    def decide(self, client_id: int, action: str, reason_code: str | None = None,
               reason_text: str | None = None) -> DecisionOut: ...

    def history(self, client_id: int, limit: int = 20) -> list[DecisionOut]: ...


class DecisionDesk(param.Parameterized):
    """One client's assessment, the decision being recorded and the earlier decisions."""

    client_id = param.Integer(default=None, allow_None=True)
    assessment = param.ClassSelector(class_=ScoreOut, default=None, allow_None=True)
    history = param.List(default=[], doc="The client's decisions, newest first.")
    message = param.String(default="", doc="What the advisor should know about the service.")
    saved = param.String(default="", doc="Confirmation of the last recorded decision.")
    error = param.String(default="", doc="Why the last decision was not recorded.")

    def __init__(self, service: Decisions | None, t: Language | None = None,
                 **params: Any) -> None:
        super().__init__(**params)
        self.service = service
        self.t = t or language("en")

    @property
    def available(self) -> bool:
        return self.service is not None

    def load(self, client_id: int | None) -> None:
        """Ask the service for the client's assessment and earlier decisions."""
        _ = self.t.gettext
        if client_id is None or self.service is None:
            self.param.update(client_id=client_id, assessment=None, history=[], message="",
                              saved="", error="")
            return
        try:
            assessment = self.service.assessment(client_id)
            history = self.service.history(client_id)
            message = ""
        except DecisionError as err:
            assessment, history = None, []
            if err.status == 401:
                message = _("The decision service refused the dashboard's credentials: check "
                            "its key (DASHBOARD_DECISIONS_KEY_FILE) or DASHBOARD_ADVISOR "
                            "and DASHBOARD_ADVISOR_PASSWORD.")
            elif err.status == 403:
                message = _("Your role does not allow this at the decision service.")
            elif err.status == 404:
                message = _("The decision service does not know this client.")
            else:
                message = _("The decision service does not answer ({error}): decisions cannot "
                            "be recorded for now.").format(error=err)
        self.param.update(client_id=client_id, assessment=assessment, history=history,
                          message=message, saved="", error="")

    def confirm(self) -> bool:
        """Record that the advisor follows the model's decision."""
        return self._record("follow")

    def override(self, reason_code: str | None, reason_text: str) -> bool:
        """Record the opposite decision; a reason code and the advisor's words are required."""
        _ = self.t.gettext
        if not reason_code:
            self.param.update(error=_("Choose why you override the model's decision."),
                              saved="")
            return False
        if not (reason_text or "").strip():
            self.param.update(error=_("Explain the override in a few words: the reason is "
                                      "required."), saved="")
            return False
        return self._record("override", reason_code, reason_text.strip())

    def _record(self, action: str, reason_code: str | None = None,
                reason_text: str | None = None) -> bool:
        _ = self.t.gettext
        if self.client_id is None or self.service is None:
            self.param.update(error=_("Choose a client first."), saved="")
            return False
        try:
            stored = self.service.decide(self.client_id, action, reason_code, reason_text)
            history = self.service.history(self.client_id)
        except DecisionError as err:
            self.param.update(error=_("The decision was not recorded: {error}").format(
                error=err), saved="")
            return False
        words = {"granted": _("Loan granted"), "refused": _("Loan refused")}
        self.param.update(history=history, error="", saved=_(
            "Decision recorded: {decision} (record {id}).").format(
            decision=words.get(stored.final_decision, stored.final_decision), id=stored.id))
        return True
