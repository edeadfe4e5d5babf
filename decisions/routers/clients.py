"""/clients/{client_id}: a stored client's profile and score."""

from __future__ import annotations

from fastapi import APIRouter, Request

from decisions.assess import assess
from decisions.auth import Reader
from decisions.dependencies import Services
from decisions.schemas import ClientProfile, ScoreOut
from serving.client import client_profile

router = APIRouter(prefix="/clients", tags=["clients"])


@router.get("/{client_id}", response_model=ClientProfile)
def profile(client_id: int, services: Services, _: Reader) -> ClientProfile:
    """The client's main application fields, as an advisor reads them."""
    row = services.gateway.stored(client_id)
    dataset = row.get("DATASET")
    return ClientProfile(client_id=client_id, dataset=None if dataset is None else str(dataset),
                         profile=client_profile(row))


@router.get("/{client_id}/score", response_model=ScoreOut)
def score(client_id: int, services: Services, _: Reader, request: Request,
          recourse: bool = True) -> dict:
    """Probability of default, decision, threshold, model, principal reasons and (for a
    refusal) verified recourse."""
    application = services.gateway.application(client_id)
    out = assess(services.gateway, services.catalogue, services.rules, application, client_id,
                 recourse)
    request.app.state.metrics.scored(out["decision"])
    return out
