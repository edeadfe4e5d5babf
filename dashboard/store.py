"""The dashboard's state: the chosen client, its score, and what-if applications.

Panel's DataStore pattern: ``ClientScore`` and ``Application`` own the data and talk to their
collaborators (a scoring client with ``score`` and ``healthy``, a row-lookup function); the
views in ``views.py`` only watch them. No Panel widget lives here, so the tests drive a store
with a stand-in scoring client and no browser.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
import param
from babel.numbers import NumberFormatError, parse_decimal

from dashboard.i18n import N_, Language, language
from dashboard.sensitivity import Curves, sensitivity
from scoring.features import NOT_INPUTS
from scoring.names import DAYS_PER_YEAR
from scoring.schema import APPLICATION_TEST, DAYS_EMPLOYED_PLACEHOLDER
from serving.client import Score, ScoringError, UnknownClient

log = logging.getLogger(__name__)


class Scorer(Protocol):
    """What the store needs of ``serving.client.ScoringClient``."""

    base_url: str

    def score(self, rows: pd.DataFrame, explain: str = "top-k", top_k: int = 10,
              threshold: float | None = None) -> list[Score]: ...

    def healthy(self) -> bool: ...


Lookup = Callable[[int], pd.DataFrame]


class ServerStatus(param.Parameterized):
    """Whether the model server answers; shared by every store of a session."""

    ok = param.Boolean(default=True, doc="False while the model server does not answer.")
    detail = param.String(default="", doc="Why the last request failed.")

    def __init__(self, scorer: Scorer, **params: Any) -> None:
        super().__init__(**params)
        self.scorer = scorer

    def failed(self, error: ScoringError) -> None:
        """Record an unreachable server (a refused request is not a server fault)."""
        self.detail = str(error)
        self.ok = False

    def check(self) -> bool:
        """Ping the server; returns True when it just came back."""
        ok = self.scorer.healthy()
        came_back = ok and not self.ok
        if ok:
            self.detail = ""
        self.ok = ok
        return came_back


def _is_refusal(error: ScoringError) -> bool:
    """A 4xx answer: the server is up but refused the request."""
    return error.status is not None and 400 <= error.status < 500


class ClientScore(param.Parameterized):
    """The client chosen by SK_ID_CURR, its stored row, its score from the model server, and
    how its probability moves with the actionable fields (``curves``)."""

    client_id = param.Integer(default=None, allow_None=True, doc="SK_ID_CURR of the client.")
    row = param.DataFrame(default=None, allow_None=True, doc="The client's stored row.")
    result = param.ClassSelector(class_=Score, default=None, allow_None=True,
                                 doc="Score, decision and reasons from the model server.")
    curves = param.ClassSelector(class_=Curves, default=None, allow_None=True,
                                 doc="Probability per value of each actionable field.")
    message = param.String(default="", doc="What the advisor should know, e.g. unknown id.")
    recent = param.List(default=[], doc="Clients chosen in this session, latest first.")
    top_k = param.Integer(default=10, bounds=(1, 50), doc="Reasons asked for.")

    def __init__(self, scorer: Scorer, lookup: Lookup, status: ServerStatus | None = None,
                 t: Language | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.scorer = scorer
        self.lookup = lookup
        self.status = status or ServerStatus(scorer)
        self.t = t or language("en")
        #: Milliseconds of each step of the last switch (lookup, score, views).
        self.timings: dict[str, float] = {}

    @param.depends("client_id", watch=True)
    def _load(self) -> None:
        # One batched update per client, so each view redraws once, not once per field.
        _ = self.t.gettext
        if self.client_id is None:
            self.param.update(row=None, result=None, curves=None, message="")
            return
        start = time.perf_counter()
        try:
            row = self.lookup(self.client_id)
        except UnknownClient:
            self.param.update(row=None, result=None, curves=None, message=_(
                "No client with number {id} in the feature store. Check the number.").format(
                id=self.client_id))
            return
        looked_up = time.perf_counter()
        result, message = self._score(row)
        scored = time.perf_counter()
        recent = [self.client_id, *[c for c in self.recent if c != self.client_id]][:8]
        self.param.update(row=row, result=result, curves=None, message=message, recent=recent)
        self.timings = {"lookup": 1000 * (looked_up - start), "score": 1000 * (scored - looked_up),
                        "views": 1000 * (time.perf_counter() - scored)}
        log.debug("client %s: %s", self.client_id,
                  ", ".join(f"{k} {v:.0f} ms" for k, v in self.timings.items()))

    def select(self, text: str) -> None:
        """Choose a client from what the advisor typed."""
        _ = self.t.gettext
        text = (text or "").strip().replace(" ", "")
        if not text.isdigit():
            self.client_id = None
            self.message = (_("'{text}' is not a client number: a client number is made of "
                              "digits.").format(text=text) if text else "")
            return
        if int(text) == self.client_id:  # same client again: retry a failed score
            if self.result is None:
                self.rescore()
            return
        self.client_id = int(text)

    def rescore(self) -> None:
        """Ask the model server again for the client's score and reasons."""
        if self.row is not None:
            result, message = self._score(self.row)
            self.param.update(result=result, curves=None, message=message)

    def explore(self) -> None:
        """Score the actionable variants of the client (one request); sets ``curves``."""
        if self.row is None or self.result is None or self.curves is not None:
            return
        try:
            self.curves = sensitivity(self.scorer, model_inputs(self.row),
                                      self.result.threshold, self.result.decision)
        except ScoringError as err:
            if not _is_refusal(err):
                self.status.failed(err)

    def _score(self, row: pd.DataFrame) -> tuple[Score | None, str]:
        """The score of a stored row and a message for the advisor (server faults go to the
        status, which shows the banner)."""
        try:
            return self.scorer.score(model_inputs(row), explain="top-k", top_k=self.top_k)[0], ""
        except ScoringError as err:
            if _is_refusal(err):
                return None, self.t.gettext(
                    "The model server refused this client: {error}").format(error=err)
            self.status.failed(err)
            return None, ""

    def heartbeat(self) -> None:
        """Periodic health check: when the server comes back, score the client again."""
        if self.status.check() or (self.status.ok and self.row is not None
                                   and self.result is None and not self.message):
            self.rescore()


def model_inputs(rows: pd.DataFrame) -> pd.DataFrame:
    """Stored rows without the columns the model server does not take."""
    return rows.drop(columns=list(NOT_INPUTS), errors="ignore")


# --- what-if and new applications -----------------------------------------------------------

@dataclass(frozen=True)
class Field:
    """An application field the advisor may edit, in the advisor's units."""

    name: str
    label: str  # English: the catalogues' message id
    kind: str = "amount"  # amount | years | count | choice

    @property
    def choices(self) -> tuple[str, ...]:
        return APPLICATION_TEST.column(self.name).levels if self.kind == "choice" else ()

    def to_text(self, raw: Any, t: Language) -> str:
        """The stored value as the form shows it ('' when missing), in the locale's format."""
        if raw is None or (isinstance(raw, float) and np.isnan(raw)) or raw is pd.NA:
            return ""
        if self.kind == "choice":
            return str(raw)
        if self.kind == "years":
            if self.name == "DAYS_EMPLOYED" and raw == DAYS_EMPLOYED_PLACEHOLDER:
                return ""
            return t.number(abs(float(raw)) / DAYS_PER_YEAR, 1)
        return t.number(float(raw))

    def to_raw(self, text: str, t: Language) -> Any:
        """The stored value of what the advisor entered; ValueError says what is wrong."""
        _ = t.gettext
        text = (text or "").strip()
        if self.kind == "choice":
            return text or None
        text = "".join(text.split())  # spaces as thousands separators
        if not text:
            if self.name == "DAYS_EMPLOYED":
                return DAYS_EMPLOYED_PLACEHOLDER  # not employed
            return None
        try:
            number = float(parse_decimal(text, locale=t.locale))
        except NumberFormatError:
            raise ValueError(_("'{text}' is not a number").format(text=text)) from None
        if self.kind == "years":
            return -round(number * DAYS_PER_YEAR)
        if self.kind == "count":
            if not number.is_integer():
                raise ValueError(_("{text} is not a whole number").format(text=text))
            return int(number)
        return number


#: The fields of the what-if and new-client forms.
FIELDS = (
    Field("AMT_INCOME_TOTAL", N_("Annual income")),
    Field("AMT_CREDIT", N_("Credit amount")),
    Field("AMT_ANNUITY", N_("Loan annuity (yearly repayment)")),
    Field("AMT_GOODS_PRICE", N_("Price of the goods")),
    Field("DAYS_BIRTH", N_("Age (years)"), "years"),
    Field("DAYS_EMPLOYED", N_("Years employed (empty: not employed)"), "years"),
    Field("CNT_CHILDREN", N_("Number of children"), "count"),
    Field("NAME_CONTRACT_TYPE", N_("Contract type"), "choice"),
    Field("NAME_INCOME_TYPE", N_("Income type"), "choice"),
    Field("NAME_EDUCATION_TYPE", N_("Education"), "choice"),
    Field("NAME_FAMILY_STATUS", N_("Family status"), "choice"),
)
_BY_NAME = {f.name: f for f in FIELDS}


class Application(param.Parameterized):
    """An application edited in a form and scored through ``/invocations``.

    ``base`` is the row the edits apply to: the chosen client's stored row (what-if) or a new
    client's template. ``errors`` maps a field name to its message (from parsing, or the
    model server's 400 answer naming the field).
    """

    base = param.DataFrame(default=None, allow_None=True)
    values = param.Dict(default={}, doc="Field name -> text as entered.")
    result = param.ClassSelector(class_=Score, default=None, allow_None=True)
    errors = param.Dict(default={})
    message = param.String(default="")

    def __init__(self, scorer: Scorer, status: ServerStatus | None = None,
                 t: Language | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.scorer = scorer
        self.status = status or ServerStatus(scorer)
        self.t = t or language("en")
        self._reset()

    @param.depends("base", watch=True)
    def _reset(self) -> None:
        row = None if self.base is None else self.base.iloc[0]
        self.values = {f.name: f.to_text(None if row is None else row.get(f.name), self.t)
                       for f in FIELDS}
        self.result, self.errors, self.message = None, {}, ""

    def edited_row(self) -> pd.DataFrame:
        """The base row with the form's values; raises ValueError naming bad fields."""
        row = model_inputs(self.base).copy()
        errors = {}
        for name, text in self.values.items():
            field = _BY_NAME[name]
            try:
                row[name] = pd.Series([field.to_raw(text, self.t)], dtype=object,
                                      index=row.index)
            except ValueError as err:
                errors[name] = f"{self.t.gettext(field.label)}: {err}."
        if errors:
            self.errors = errors
            raise ValueError(", ".join(errors))
        return row

    def submit(self) -> None:
        """Score the edited application; sets ``result`` or ``errors`` / ``message``."""
        _ = self.t.gettext
        self.result, self.errors, self.message = None, {}, ""
        if self.base is None:
            self.message = _("Choose a client first.")
            return
        try:
            row = self.edited_row()
        except ValueError:
            return
        try:
            self.result = self.scorer.score(row, explain="top-k", top_k=5)[0]
        except ScoringError as err:
            if not _is_refusal(err):
                self.status.failed(err)
                self.message = _("The model server does not answer: try again shortly.")
                return
            field = err.error.field if err.error is not None else None
            if field in _BY_NAME:
                self.errors = {field: f"{_(_BY_NAME[field].label)}: "
                                      f"{refusal_words(self.t, err)}"}
            else:
                self.message = _("The model server refused the application: {error}").format(
                    error=err)


def refusal_words(t: Language, error: ScoringError) -> str:
    """The model server's refusal of a field in the session's language (read from its
    machine-readable error; the server's own words for a refusal of another kind)."""
    e = error.error
    if e is not None and e.code == "outside_range" and None not in (e.value, e.low, e.high):
        return t.gettext("{value} is outside the plausible range, from {low} to {high}.").format(
            value=t.short(float(e.value)), low=t.short(e.low), high=t.short(e.high))
    message = e.message if e is not None else str(error)
    return message.split(":", 1)[1].strip() if ":" in message else message
