"""Who calls: systems with an API key (``X-API-Key``), advisors with HTTP basic credentials.

Reading needs either; recording a decision needs an advisor, whose id goes into the record.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPBasic, HTTPBasicCredentials

_KEY = APIKeyHeader(name="X-API-Key", auto_error=False,
                    description="a system's API key (DECISIONS_API_KEYS)")
_BASIC = HTTPBasic(auto_error=False, description="an advisor's id and password "
                   "(DECISIONS_ADVISORS)")


@dataclass(frozen=True)
class Caller:
    kind: str  # "system" or "advisor"
    name: str


def _matches(given: str, stored: str) -> bool:
    """Constant-time comparison; ``sha256:<hex>`` stores only a password's hash."""
    if stored.startswith("sha256:"):
        given, stored = hashlib.sha256(given.encode()).hexdigest(), stored[7:].lower()
    return hmac.compare_digest(given.encode(), stored.encode())


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message,
                         headers={"WWW-Authenticate": 'Basic realm="decisions"'})


def _advisor(request: Request, basic: HTTPBasicCredentials | None) -> Caller | None:
    if basic is None:
        return None
    stored = request.app.state.settings.advisors.get(basic.username)
    if stored is None or not _matches(basic.password, stored):
        raise _unauthorized("unknown advisor or wrong password")
    return Caller("advisor", basic.username)


def caller(request: Request, key: Annotated[str | None, Security(_KEY)] = None,
           basic: Annotated[HTTPBasicCredentials | None, Security(_BASIC)] = None) -> Caller:
    """A system (API key) or an advisor (basic auth); 401 otherwise."""
    if key is not None:
        for name, stored in request.app.state.settings.api_keys.items():
            if _matches(key, stored):
                return Caller("system", name)
        raise _unauthorized("unknown API key")
    found = _advisor(request, basic)
    if found is None:
        raise _unauthorized("credentials needed: an X-API-Key header or an advisor's "
                            "HTTP basic credentials")
    return found


def advisor(request: Request,
            basic: Annotated[HTTPBasicCredentials | None, Security(_BASIC)] = None) -> Caller:
    """An advisor (basic auth): only advisors record decisions; 401 otherwise."""
    found = _advisor(request, basic)
    if found is None:
        raise _unauthorized("recording a decision needs an advisor's credentials "
                            "(HTTP basic); an API key is not enough")
    return found


Reader = Annotated[Caller, Depends(caller)]
Advisor = Annotated[Caller, Depends(advisor)]
