"""What routes are given by ``Depends``: the shared services and a database session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from decisions.catalogue import Catalogue
from decisions.database import get_session
from decisions.gateway import Gateway
from decisions.recourse import Rules


@dataclass(frozen=True)
class Shared:
    """Built once at start-up: the way to the model and store, the catalogue, the rules."""

    gateway: Gateway
    catalogue: Catalogue
    rules: Rules


async def get_services(request: Request) -> Shared:  # on the event loop: no thread
    return request.app.state.services


Services = Annotated[Shared, Depends(get_services)]
DB = Annotated[Session, Depends(get_session)]
