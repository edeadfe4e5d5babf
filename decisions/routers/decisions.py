"""Decisions: the advisor's final decision on a client, the record, and its verification."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import SQLAlchemyError

from decisions import record
from decisions.assess import assess
from decisions.auth import Advisor, Reader
from decisions.dependencies import DB, Services
from decisions.schemas import DecisionIn, DecisionOut, DecisionPage, VerifyOut

router = APIRouter(tags=["decisions"])
_OTHER = {"granted": "refused", "refused": "granted"}


def _invalid(field: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", field), "msg": message,
                                    "type": "value_error", "input": None}])


def _check(body: DecisionIn) -> None:
    if body.action == "override":
        if body.reason_code is None:
            raise _invalid("reason_code", "an override needs a reason code from the fixed "
                           "list (see the schema OverrideReason)")
        if not (body.reason_text or "").strip():
            raise _invalid("reason_text", "an override needs the advisor's explanation")
    elif body.reason_code is not None or body.reason_text:
        raise _invalid("reason_code", "a decision that follows the model takes no reason")


@router.post("/clients/{client_id}/decisions", response_model=DecisionOut,
             status_code=status.HTTP_201_CREATED,
             responses={503: {"description": "the model server or the database failed: "
                              "nothing was stored"}})
def decide(client_id: int, body: DecisionIn, services: Services, session: DB,
           advisor: Advisor, request: Request) -> dict:
    """Record the advisor's final decision on the client's current score: ``follow`` the
    model, or ``override`` it with a reason code and text. The answer comes only once the
    record is stored."""
    _check(body)
    application = services.gateway.application(client_id)
    scored = assess(services.gateway, services.catalogue, services.rules, application,
                    client_id, recourse=False)
    model = scored["model"]
    final = scored["decision"] if body.action == "follow" else _OTHER[scored["decision"]]
    entry = {
        "client_id": client_id, "inputs_hash": scored["inputs_hash"],
        "model_name": model["name"], "model_version": model["version"],
        "model_alias": model["alias"], "threshold": scored["threshold"],
        "probability": scored["probability"], "model_decision": scored["decision"],
        "reasons": record.canonical([{"group": r["group"], "contribution": r["contribution"]}
                                     for r in scored["reasons"]]),
        "catalogue_version": scored["catalogue_version"], "advisor": advisor.name,
        "final_decision": final,
        "override_reason_code": body.reason_code.value if body.reason_code else None,
        "override_reason_text": body.reason_text if body.action == "override" else None,
    }
    try:
        stored = record.append(session, entry)
    except SQLAlchemyError as err:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "the decision was NOT stored: the database refused the write "
                            f"({type(err).__name__}: {str(err).splitlines()[0][:200]}); "
                            "send it again") from err
    metrics = request.app.state.metrics
    metrics.decisions.labels(final).inc()
    if body.action == "override":
        metrics.overrides.labels(entry["override_reason_code"]).inc()
    return _out(stored)


def _out(row: dict) -> dict:
    return {**row, "reasons": json.loads(row["reasons"])}


def _iso(value: datetime | None) -> str | None:
    """A query time as stored (UTC, Z); a time without zone is read as UTC."""
    if value is None:
        return None
    if value.tzinfo is not None:
        from datetime import UTC

        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@router.get("/decisions", response_model=DecisionPage)
def list_decisions(
    session: DB, _: Reader,
    client_id: int | None = None,
    advisor: str | None = None,
    since: Annotated[datetime | None, Query(description="from this time (UTC)")] = None,
    until: Annotated[datetime | None, Query(description="before this time (UTC)")] = None,
    overrides_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    """Stored decisions, newest first, filtered by client, advisor, period, overrides."""
    filters = record.Filters(client_id, advisor, _iso(since), _iso(until), overrides_only)
    total, rows = record.find(session, filters, limit, offset)
    return {"total": total, "decisions": [_out(r) for r in rows]}


@router.get("/decisions/verify", response_model=VerifyOut)
def verify(session: DB, _: Reader) -> dict:
    """Recompute the hash chain over every record; names the first broken one."""
    v = record.verify(session)
    return {"ok": v.ok, "records": v.records, "head": v.head, "broken_id": v.broken_id,
            "problem": v.problem}
