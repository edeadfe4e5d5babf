"""One application assessed: the model's score, principal reasons and recourse."""

from __future__ import annotations

from typing import Any

from decisions.catalogue import Catalogue, principal_reasons
from decisions.gateway import Gateway
from decisions.recourse import Rules, search


def assess(gateway: Gateway, catalogue: Catalogue, rules: Rules,
           application: dict[str, Any], client_id: int | None, recourse: bool = True,
           ) -> dict[str, Any]:
    """The answer of the score routes for one application, ``{field: value}`` (``ScoreOut``
    fields).

    Raises gateway.Refused for a field the model server rejects, gateway.ModelDown when it
    cannot answer.
    """
    scores, inputs_hash = gateway.score([application])
    score = scores[0]
    out: dict[str, Any] = {
        "client_id": client_id, "probability": score.probability, "decision": score.decision,
        "threshold": score.threshold, "distance": score.distance,
        "model": gateway.model(score.model_version).__dict__, "inputs_hash": inputs_hash,
        "catalogue_version": catalogue.version,
        "reasons": principal_reasons(score.reasons, catalogue),
        "recourse": [], "recourse_note": None,
    }
    if score.decision == "refused" and recourse:
        out["recourse"] = search(application, rules,
                                 lambda a, changes: gateway.score_variants(a, changes)[0])
        if not out["recourse"]:
            out["recourse_note"] = ("no change of the credit amount, goods price or term "
                                    "within the rules grants this application")
    return out
