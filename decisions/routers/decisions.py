"""Decisions: the advisor's final decision on a client, a supervisor's review of an override
(four eyes), the record, and its verification."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from decisions import checkpoint, record
from decisions.assess import assess
from decisions.auth import (
    Advisor,
    Caller,
    DecisionReader,
    Supervisor,
    authenticated,
    forbidden,
    own_client,
)
from decisions.config import four_eyes_limit
from decisions.dependencies import DB, Services
from decisions.schemas import (
    DecisionIn,
    DecisionOut,
    DecisionPage,
    DecisionStatus,
    ReviewIn,
    VerifyOut,
)
from decisions.users import ADVISOR, CLIENT

router = APIRouter(tags=["decisions"], dependencies=[Depends(authenticated)])
log = logging.getLogger("decisions.record")
_OTHER = {"granted": "refused", "refused": "granted"}
#: The scoring fields a review record repeats from the override it reviews.
_REVIEWED = ("client_id", "inputs_hash", "model_name", "model_version", "model_alias",
             "threshold", "probability", "model_decision", "reasons", "catalogue_version")


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


def _needs_review(request: Request, body: DecisionIn, rows: pd.DataFrame) -> bool | None:
    """True when this override waits for a supervisor (DECISIONS_FOUR_EYES), else None."""
    limit = four_eyes_limit(request.app.state.settings.four_eyes)
    if body.action != "override" or limit is None:
        return None
    amount = rows["AMT_CREDIT"].iloc[0] if "AMT_CREDIT" in rows.columns else None
    # an unknown amount is reviewed: the safe side
    return True if amount is None or pd.isna(amount) or float(amount) > limit else None


def _store(request: Request, session: DB, entry: dict,
           check: Callable[[Connection], None] | None = None) -> dict:
    """Append to the chain and checkpoint its new head; 503 when the database refused the
    write or the chain is shorter than its last checkpoint."""
    checkpointer = request.app.state.checkpointer

    def whole_then(conn: Connection) -> None:
        head = record.chain_head(conn)
        refusal = checkpointer.refusal(head.id if head else 0, head.record_hash if head else None)
        if refusal is not None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                                f"the decision was NOT stored: {refusal}")
        if check is not None:
            check(conn)

    def checkpoint(stored: dict) -> None:
        try:
            checkpointer.write(stored["id"], stored["record_hash"])
        except OSError as err:
            log.error("record %s stored but its checkpoint was not written: %s",
                      stored["id"], err)

    try:
        return record.append(session, entry, whole_then, checkpoint)
    except SQLAlchemyError as err:
        if isinstance(err, IntegrityError) and entry.get("review_of"):
            raise HTTPException(status.HTTP_409_CONFLICT, f"decision {entry['review_of']} "
                                "was reviewed meanwhile") from err
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "the decision was NOT stored: the database refused the write "
                            f"({type(err).__name__}: {str(err).splitlines()[0][:200]}); "
                            "send it again") from err


@router.post("/clients/{client_id}/decisions", response_model=DecisionOut,
             status_code=status.HTTP_201_CREATED,
             responses={503: {"description": "the model server or the database failed: "
                              "nothing was stored"}})
def decide(client_id: int, body: DecisionIn, services: Services, session: DB,
           advisor: Advisor, request: Request) -> dict:
    """Record the advisor's final decision on the client's current score: ``follow`` the
    model, or ``override`` it with a reason code and text. The answer comes only once the
    record is stored. An override under four eyes (DECISIONS_FOUR_EYES) is stored with
    ``needs_review`` and stays ``pending`` until a supervisor reviews it."""
    _check(body)
    rows = services.gateway.request_rows(client_id)
    scored = assess(services.gateway, services.catalogue, services.rules, rows, client_id,
                    recourse=False)
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
        "via": advisor.via, "needs_review": _needs_review(request, body, rows),
    }
    stored = _store(request, session, entry)
    metrics = request.app.state.metrics
    metrics.decisions.labels(final).inc()
    if body.action == "override":
        metrics.overrides.labels(entry["override_reason_code"]).inc()
    return _out(stored)


@router.post("/decisions/{decision_id}/review", response_model=DecisionOut,
             status_code=status.HTTP_201_CREATED,
             responses={403: {"description": "the override's own advisor, or not a "
                              "supervisor"}, 404: {"description": "no such decision"},
                        409: {"description": "not waiting for a review, or reviewed"}})
def review(decision_id: int, body: ReviewIn, session: DB, supervisor: Supervisor,
           request: Request) -> dict:
    """A supervisor confirms or rejects a pending override (four eyes): a new record in
    the chain, pointing at the override (``review_of``), whose final decision is the
    override's (confirm) or the model's (reject). Not by the advisor who recorded it."""
    target = record.get(session, decision_id)
    if target is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no decision {decision_id}")
    if not target["needs_review"]:
        raise HTTPException(status.HTTP_409_CONFLICT, f"decision {decision_id} does not wait "
                            "for a review (only overrides under four eyes do)")
    if target["advisor"] == supervisor.name:
        raise forbidden(f"four eyes: {supervisor.name} recorded decision {decision_id} and "
                        "cannot review it; another supervisor must")
    session.rollback()  # the write begins its own transaction, under the write lock

    def not_reviewed(conn: Connection) -> None:
        done = record.reviews_of(conn, [decision_id]).get(decision_id)
        if done is not None:
            raise HTTPException(status.HTTP_409_CONFLICT, f"decision {decision_id} was "
                                f"already reviewed by {done['advisor']} (record {done['id']}: "
                                f"{done['verdict']})")

    final = target["final_decision"] if body.verdict == "confirm" else target["model_decision"]
    entry = {**{k: target[k] for k in _REVIEWED}, "advisor": supervisor.name,
             "final_decision": final, "override_reason_code": None,
             "override_reason_text": None, "via": supervisor.via, "review_of": decision_id,
             "verdict": body.verdict, "review_comment": (body.comment or "").strip() or None}
    return _out(_store(request, session, entry, not_reviewed))


def _out(row: dict, review: dict | None = None) -> dict:
    """A record as answered, with its four-eyes status."""
    if row.get("review_of") is not None:
        state = DecisionStatus.REVIEW
    elif row.get("needs_review"):
        state = {None: DecisionStatus.PENDING, "confirm": DecisionStatus.CONFIRMED,
                 "reject": DecisionStatus.REJECTED}[review["verdict"] if review else None]
    else:
        state = DecisionStatus.FINAL
    return {**row, "reasons": json.loads(row["reasons"]), "status": state,
            "reviewed_by": review["id"] if review else None}


def _iso(value: datetime | None) -> str | None:
    """A query time as stored (UTC, Z); a time without zone is read as UTC."""
    if value is None:
        return None
    if value.tzinfo is not None:
        from datetime import UTC

        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _scope(caller: Caller, client_id: int | None, advisor: str | None,
           request: Request) -> tuple[int | None, str | None]:
    """The (client_id, advisor) filters a caller may use: a supervisor any; an advisor a
    client's decisions or their own; a client their own. The read of a client's decisions
    is noted in the access log."""
    if caller.role == CLIENT:
        own_client(caller, client_id if client_id is not None else caller.client_id)
        client_id = caller.client_id
    elif caller.role == ADVISOR and client_id is None:
        if advisor not in (None, caller.name):
            raise forbidden("an advisor lists their own decisions, or one client's: ask "
                            "with client_id")
        advisor = caller.name
    if client_id is not None:
        request.app.state.access.add(record.now(), caller.name, caller.role, caller.via,
                                     client_id, "decisions")
    return client_id, advisor


@router.get("/decisions", response_model=DecisionPage)
def list_decisions(
    session: DB, caller: DecisionReader, request: Request,
    client_id: int | None = None,
    advisor: str | None = None,
    since: Annotated[datetime | None, Query(description="from this time (UTC)")] = None,
    until: Annotated[datetime | None, Query(description="before this time (UTC)")] = None,
    overrides_only: bool = False,
    status: Annotated[Literal["pending", "confirmed", "rejected"] | None, Query(
        description="overrides under four eyes: pending, confirmed or rejected")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    """Stored decisions, newest first, filtered by client, advisor, period, overrides and
    four-eyes status. Supervisors see every decision; advisors their own, or one client's
    (``client_id``); a client their own."""
    client_id, advisor = _scope(caller, client_id, advisor, request)
    filters = record.Filters(client_id, advisor, _iso(since), _iso(until), overrides_only,
                             status)
    total, rows = record.find(session, filters, limit, offset)
    reviews = record.reviews_of(session, [r["id"] for r in rows if r["needs_review"]])
    return {"total": total, "decisions": [_out(r, reviews.get(r["id"])) for r in rows]}


@router.get("/decisions/verify", response_model=VerifyOut)
def verify(session: DB, _: Supervisor, request: Request) -> dict:
    """Recompute the hash chain over every record and compare its head with the last signed
    checkpoint; names the first broken record, or those missing at the tail. A whole chain
    is checkpointed again."""
    checkpointer = request.app.state.checkpointer
    last = checkpointer.last
    v = checkpoint.against(record.verify(session), last, checkpointer.public,
                           lambda i: (record.get(session, i) or {}).get("record_hash"))
    if v.ok and v.records and (last is None or (v.records, v.head) != (last.records, last.head)):
        last = checkpointer.write(v.records, v.head)
    return {"ok": v.ok, "records": v.records, "head": v.head, "broken_id": v.broken_id,
            "problem": v.problem,
            "missing_from": v.missing[0] if v.missing else None,
            "missing_to": v.missing[1] if v.missing else None,
            "checkpoint": None if last is None else {
                "records": last.records, "head": last.head, "at": last.at,
                "key_id": last.key_id}}
