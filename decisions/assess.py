"""One application assessed: the model's score, principal reasons and recourse."""

from __future__ import annotations

from typing import Any

from decisions.catalogue import Catalogue, principal_reasons
from decisions.gateway import Gateway
from decisions.recourse import Rules, candidates, proposals


def assess(gateway: Gateway, catalogue: Catalogue, rules: Rules,
           application: dict[str, Any], client_id: int | None, recourse: bool = True,
           ) -> dict[str, Any]:
    """The answer of the score routes for one application, ``{field: value}`` (``ScoreOut``
    fields).

    With ``recourse``, the application and its candidate changes go in one request; the
    model scores the changes only when the application is refused (``Gateway.score_shared``:
    under load, several applications share a request and a refused one asks its changes
    after).

    Raises gateway.Refused for a field the model server rejects, gateway.ModelDown when it
    cannot answer.
    """
    try:
        found = candidates(application, rules) if recourse else []
    except (TypeError, ValueError, ArithmeticError):  # a bad amount: the model names it
        found = []
    assessed = gateway.score_shared(application, [c for _, _, c in found])
    score, inputs_hash = assessed.score, assessed.inputs_hash
    out: dict[str, Any] = {
        "client_id": client_id, "probability": score.probability, "decision": score.decision,
        "threshold": score.threshold, "distance": score.distance,
        "model": gateway.model(score.model_version).__dict__, "inputs_hash": inputs_hash,
        "catalogue_version": catalogue.version,
        "reasons": principal_reasons(score.reasons, catalogue),
        "recourse": [], "recourse_note": None,
    }
    if score.decision == "refused" and recourse:
        out["recourse"] = proposals(application, rules, found, assessed.variants or [])
        if not out["recourse"]:
            out["recourse_note"] = ("no change of the credit amount, goods price or term "
                                    "within the rules grants this application")
    return out
