"""/access: who read which client's data (supervisors), and reads noted by a trusted system
for the person it acts for (the dashboard's letters and pages)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from decisions.access import WHAT, AccessFilters
from decisions.auth import Authenticated, Supervisor, authenticated, own_client
from decisions.record import now
from decisions.routers.decisions import _iso

router = APIRouter(prefix="/access", tags=["access"], dependencies=[Depends(authenticated)])


class AccessIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: int
    what: str = Field(description=f"one of {', '.join(WHAT)}", pattern=f"^({'|'.join(WHAT)})$")


class AccessOut(BaseModel):
    id: int
    at: str
    person: str
    role: str
    via: str | None
    client_id: int
    what: str


class AccessPage(BaseModel):
    total: int
    reads: list[AccessOut]


@router.get("", response_model=AccessPage)
def reads(
    request: Request, _: Supervisor,
    client_id: int | None = None,
    person: str | None = None,
    since: Annotated[datetime | None, Query(description="from this time (UTC)")] = None,
    until: Annotated[datetime | None, Query(description="before this time (UTC)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    """Reads of clients' data, newest first: who (person, role, the system that carried
    it), which client, what, when (UTC)."""
    total, rows = request.app.state.access.find(
        AccessFilters(client_id, person, _iso(since), _iso(until)), limit, offset)
    return {"total": total, "reads": rows}


@router.post("", status_code=status.HTTP_204_NO_CONTENT)
def note(body: AccessIn, request: Request, caller: Authenticated) -> None:
    """Note a read made outside this service (a letter, a page of the dashboard), in the
    caller's name: a system acting for a person notes it as that person's."""
    own_client(caller, body.client_id)
    request.app.state.access.add(now(), caller.name, caller.role, caller.via, body.client_id,
                                 body.what)
