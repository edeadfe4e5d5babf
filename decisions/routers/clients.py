"""/clients/{client_id}: a stored client's profile and score."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from decisions.access import reads_client
from decisions.assess import assess
from decisions.auth import Caller, authenticated
from decisions.dependencies import Services
from decisions.schemas import ClientProfile, ScoreOut
from decisions.users import ADVISOR, CLIENT, SUPERVISOR, SYSTEM
from serving.client import client_profile

router = APIRouter(prefix="/clients", tags=["clients"], dependencies=[Depends(authenticated)])
#: Each read is checked (a client reads only their own) and noted in the access log.
ProfileReader = Annotated[Caller, Depends(reads_client("profile", SYSTEM, ADVISOR, SUPERVISOR,
                                                       CLIENT))]
ScoreReader = Annotated[Caller, Depends(reads_client("score", SYSTEM, ADVISOR, SUPERVISOR,
                                                     CLIENT))]


@router.get("/{client_id}", response_model=ClientProfile)
def profile(client_id: int, services: Services, _: ProfileReader) -> ClientProfile:
    """The client's main application fields, as an advisor reads them."""
    row = services.gateway.stored(client_id).iloc[0]
    dataset = row.get("DATASET")
    return ClientProfile(client_id=client_id, dataset=None if dataset is None else str(dataset),
                         profile=client_profile(row))


@router.get("/{client_id}/score", response_model=ScoreOut)
def score(client_id: int, services: Services, _: ScoreReader, request: Request,
          recourse: bool = True) -> dict:
    """Probability of default, decision, threshold, model, principal reasons and (for a
    refusal) verified recourse."""
    rows = services.gateway.request_rows(client_id)
    out = assess(services.gateway, services.catalogue, services.rules, rows, client_id,
                 recourse)
    request.app.state.metrics.scored(out["decision"])
    return out
