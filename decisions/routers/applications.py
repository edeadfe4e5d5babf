"""/applications/score: a new application's raw fields scored."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from decisions.assess import assess
from decisions.auth import Scorer, authenticated
from decisions.dependencies import Services
from decisions.schemas import Application, ScoreOut
from scoring.schema import KEY

router = APIRouter(prefix="/applications", tags=["applications"],
                   dependencies=[Depends(authenticated)])


@router.post("/score", response_model=ScoreOut)
def score(application: Application, services: Services, _: Scorer,  # type: ignore[valid-type]
          request: Request, recourse: bool = True) -> dict:
    """Score an application given as raw fields (the columns of ``application_test``, the
    optional ones may be left out) with an optional ``history`` object."""
    fields = application.model_dump()
    fields["history"] = fields["history"] or {}
    out = assess(services.gateway, services.catalogue, services.rules, fields,
                 fields[KEY], recourse)
    request.app.state.metrics.scored(out["decision"])
    return out
