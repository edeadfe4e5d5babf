"""The dashboard's client of the decision service (``decisions/``): a client's assessment
(principal reasons in the client's words, verified recourse), the advisor's decision, and the
client's earlier decisions.

A thin HTTP client, like ``serving.client.ScoringClient``: answers are parsed into the
service's own pydantic schemas, errors become ``DecisionError`` carrying the field the
service named (``detail[].loc``) and its message.

With login on, the dashboard calls the service with its own API key (allowed to act for
users) and the person logged in (``X-Acting-For``): the service checks that person's role and
records their name. Without login (loopback development), it calls as one advisor (HTTP
basic credentials of ``--advisor``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from decisions.schemas import ClientProfile, DecisionIn, DecisionOut, DecisionPage, ScoreOut

DEFAULT_URL = "http://127.0.0.1:5007"
#: The header naming the person a trusted system acts for.
ACTING_FOR = "X-Acting-For"


class DecisionError(Exception):
    """The decision service refused a request or could not be reached."""

    def __init__(self, message: str, status: int | None = None, field: str | None = None
                 ) -> None:
        super().__init__(message)
        self.status, self.field = status, field


@dataclass
class DecisionClient:
    """Requests to the decision service for one person: the dashboard's API key and the
    person's name (``api_key``, ``acting_for``), or one advisor's basic credentials."""

    base_url: str = DEFAULT_URL
    advisor: str = ""
    password: str = ""
    timeout: float = 10.0
    #: A requests-like session; FastAPI's TestClient runs the service in-process in tests.
    session: Any = None
    api_key: str = ""
    acting_for: str = ""

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self._session = self.session if self.session is not None else requests.Session()
        if self.api_key:
            self._session.headers.update({"X-API-Key": self.api_key,
                                          ACTING_FOR: self.acting_for})
        elif self.advisor:
            self._session.auth = (self.advisor, self.password)

    def _call(self, method: str, path: str, **kwargs) -> dict:
        try:
            resp = self._session.request(method, self.base_url + path, timeout=self.timeout,
                                         **kwargs)
        except (requests.RequestException, OSError) as err:
            # the URL stays out of the message: advisors see it (the About page shows it)
            raise DecisionError(f"unreachable ({type(err).__name__})") from err
        if resp.status_code >= 400:
            raise _error(resp)
        return resp.json()

    def assessment(self, client_id: int) -> ScoreOut:
        """Score, principal reasons (client's words, fr and en) and verified recourse."""
        return ScoreOut.model_validate(self._call("GET", f"/clients/{client_id}/score"))

    def decide(self, client_id: int, action: str, reason_code: str | None = None,
               reason_text: str | None = None) -> DecisionOut:
        """Record the advisor's decision (``follow`` or ``override``); the stored record."""
        body = DecisionIn(action=action, reason_code=reason_code, reason_text=reason_text)
        return DecisionOut.model_validate(self._call(
            "POST", f"/clients/{client_id}/decisions",
            json=body.model_dump(mode="json", exclude_none=True)))

    def history(self, client_id: int, limit: int = 20) -> list[DecisionOut]:
        """The client's decisions, newest first."""
        page = DecisionPage.model_validate(self._call(
            "GET", "/decisions", params={"client_id": client_id, "limit": limit}))
        return page.decisions

    def profile(self, client_id: int) -> ClientProfile:
        """The data held about the client (readable label -> value)."""
        return ClientProfile.model_validate(self._call("GET", f"/clients/{client_id}"))

    def pending(self, limit: int = 100) -> list[DecisionOut]:
        """Overrides waiting for a supervisor's review, newest first."""
        page = DecisionPage.model_validate(self._call(
            "GET", "/decisions", params={"status": "pending", "limit": limit}))
        return page.decisions

    def review(self, decision_id: int, verdict: str, comment: str = "") -> dict:
        """A supervisor confirms or rejects a pending override (``confirm``/``reject``)."""
        return self._call("POST", f"/decisions/{decision_id}/review",
                          json={"verdict": verdict, "comment": comment})


def _error(resp: requests.Response) -> DecisionError:
    """The service's error answer: FastAPI's ``detail`` (text, or a list naming fields)."""
    try:
        detail = resp.json().get("detail")
    except ValueError:
        detail = resp.text
    if isinstance(detail, list) and detail:
        first = detail[0]
        field = str(first.get("loc", ["", ""])[-1])
        return DecisionError(f"{field}: {first.get('msg', '')}", resp.status_code, field)
    return DecisionError(str(detail), resp.status_code)
