"""Who calls, and what their role allows: every router depends on ``authenticated`` (401
without credentials), every route names the roles it admits with ``allow(...)`` (403 for the
others).

People send HTTP basic credentials (their name and password from the users file); systems
send an API key (``X-API-Key``). A system whose key has ``act_for_users`` may add
``X-Acting-For: NAME``: the request is then that person's, with their role, and the records
keep the system's name too (``via``). Failed logins are counted per user and per address:
past the limit the service answers 429 until the window has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPBasic, HTTPBasicCredentials
from starlette.concurrency import run_in_threadpool

from decisions.throttle import Throttle
from decisions.users import ADVISOR, CLIENT, SUPERVISOR, SYSTEM, UsersFile

_KEY = APIKeyHeader(name="X-API-Key", auto_error=False,
                    description="a system's API key (the users file's api_keys)")
_BASIC = HTTPBasic(auto_error=False, description="a person's name and password (the users "
                   "file's users: advisor, supervisor or client)")
ACTING_FOR = "X-Acting-For"
_ACTING_FOR_DOC = "the person a trusted system acts for (only with an API key that has " \
    "act_for_users)"


@dataclass(frozen=True)
class Caller:
    """Who a request is for: the person (or, for a system alone, the system), their role,
    their client id (client role) and the system that carried the request, if any."""

    name: str
    role: str
    client_id: int | None = None
    via: str | None = None


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message,
                         headers={"WWW-Authenticate": 'Basic realm="decisions"'})


def forbidden(message: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, message)


def client_address(request: Request) -> str:
    """The caller's address: when the request comes from a trusted proxy (nginx on this host;
    DECISIONS_TRUSTED_PROXIES), its ``X-Real-IP``, else the last address of its
    ``X-Forwarded-For`` (the one nginx appended: those before it the client may have
    written); else the peer's."""
    peer = request.client.host if request.client else "unknown"
    if peer not in request.app.state.settings.trusted_proxies:
        return peer
    real = request.headers.get("x-real-ip", "").strip()
    forwarded = request.headers.get("x-forwarded-for", "").split(",")[-1].strip()
    return real or forwarded or peer


def _throttle(request: Request) -> Throttle:
    return request.app.state.throttle


def _too_many(request: Request, wait: float) -> HTTPException:
    request.app.state.metrics.logins.labels("throttled").inc()
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                         f"too many failed logins: try again in {wait:.0f} s",
                         headers={"Retry-After": str(max(1, round(wait)))})


def _by_key(request: Request, key: str, acting_for: str | None, address: str) -> Caller:
    throttle = _throttle(request)
    if (wait := throttle.blocked(address=address)) > 0:
        raise _too_many(request, wait)
    users: UsersFile = request.app.state.users
    found = users.current().api_key(key)
    if found is None:
        throttle.failed(address=address)
        request.app.state.metrics.logins.labels("failed").inc()
        raise _unauthorized("unknown API key")
    if acting_for is None:
        return Caller(found.name, SYSTEM)
    if not found.act_for_users:
        raise forbidden(f"the API key {found.name!r} may not act for a person "
                        f"({ACTING_FOR}): only keys with act_for_users may")
    person = users.current().user(acting_for)
    if person is None:
        raise forbidden(f"{ACTING_FOR}: no enabled user {acting_for!r}")
    return Caller(person.name, person.role, person.client_id, via=found.name)


def _by_password(request: Request, basic: HTTPBasicCredentials, address: str) -> Caller:
    throttle = _throttle(request)
    if (wait := throttle.blocked(user=basic.username, address=address)) > 0:
        raise _too_many(request, wait)
    person = request.app.state.users.current().verify(basic.username, basic.password)
    if person is None:
        throttle.failed(user=basic.username, address=address)
        request.app.state.metrics.logins.labels("failed").inc()
        raise _unauthorized("unknown user, wrong password or disabled account")
    throttle.succeeded(user=basic.username)
    return Caller(person.name, person.role, person.client_id)


async def authenticated(request: Request, key: Annotated[str | None, Security(_KEY)] = None,
                        basic: Annotated[HTTPBasicCredentials | None, Security(_BASIC)] = None,
                        acting_for: Annotated[str | None, Header(
                            alias=ACTING_FOR, description=_ACTING_FOR_DOC)] = None,
                        ) -> Caller:
    """The caller: a system (API key, perhaps acting for a person) or a person (basic
    auth); 401 without valid credentials, 429 after too many failures, 403 when a caller
    without the right names someone else.

    A key is checked on the event loop (a SHA-256 and a lookup: a worker thread's hand-over
    cost more); a password in a worker thread (argon2 takes its time)."""
    address = client_address(request)
    if key is not None:
        return _by_key(request, key, acting_for, address)
    if basic is None:
        raise _unauthorized("credentials needed: a person's HTTP basic credentials or a "
                            "system's X-API-Key header")
    if acting_for is not None:
        raise forbidden(f"{ACTING_FOR} is for trusted systems (an API key with "
                        "act_for_users), not for a person's login")
    return await run_in_threadpool(_by_password, request, basic, address)


def allow(*roles: str):
    """A dependency admitting only callers of these roles (403 for the others)."""

    # async: a check this cheap runs on the event loop, not through a worker thread
    async def check(caller: Annotated[Caller, Depends(authenticated)]) -> Caller:
        return admitted(caller, roles)

    check.__name__ = f"allow_{'_'.join(roles)}"
    return check


def admitted(caller: Caller, roles: tuple[str, ...]) -> Caller:
    """``caller``, when their role is one of ``roles``; else 403."""
    if caller.role not in roles:
        raise forbidden(f"the {caller.role} role may not use this route (it is for: "
                        f"{', '.join(roles)})")
    return caller


#: ``openapi_extra`` of a route calling ``caller_of``: what ``authenticated`` documents.
CREDENTIALS_DOC = {
    "security": [{"APIKeyHeader": []}, {"HTTPBasic": []}],
    "parameters": [{"name": ACTING_FOR, "in": "header", "required": False,
                    "schema": {"type": "string"}, "description": _ACTING_FOR_DOC}]}


async def caller_of(request: Request) -> Caller:
    """``authenticated``, for a route that reads the credentials itself: FastAPI's solving of
    the nested dependencies cost the busiest route more CPU than the check (0.3-0.6 ms)."""
    return await authenticated(request, await _KEY(request), await _BASIC(request),
                               request.headers.get(ACTING_FOR))


def own_client(caller: Caller, client_id: int) -> None:
    """403 when a client asks for another client's data."""
    if caller.role == CLIENT and caller.client_id != client_id:
        raise forbidden("a client may only read their own file")


Authenticated = Annotated[Caller, Depends(authenticated)]
#: Who may read a stored client's score and profile (a client only their own).
ClientReader = Annotated[Caller, Depends(allow(SYSTEM, ADVISOR, SUPERVISOR, CLIENT))]
#: Who may score a new application.
Scorer = Annotated[Caller, Depends(allow(SYSTEM, ADVISOR))]
#: Who records decisions: advisors (themselves, or through a system acting for them).
Advisor = Annotated[Caller, Depends(allow(ADVISOR))]
#: Who reads decisions: advisors (theirs and their clients'), supervisors (all), clients
#: (their own).
DecisionReader = Annotated[Caller, Depends(allow(ADVISOR, SUPERVISOR, CLIENT))]
#: Who verifies, exports and reviews the record, and reads the access log.
Supervisor = Annotated[Caller, Depends(allow(SUPERVISOR))]
