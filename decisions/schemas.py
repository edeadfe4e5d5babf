"""Pydantic models of the API's requests and answers (the tables are in ``tables.py``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from scoring.schema import APPLICATION_TEST


class ModelInfo(BaseModel):
    name: str
    version: str
    alias: str


class FeatureContribution(BaseModel):
    feature: str
    label: str
    value: Any = None
    contribution: float = Field(description="log-odds pushed toward default")


class Reason(BaseModel):
    """A principal reason: a reason group of the catalogue and what made it count."""

    group: str
    en: str
    fr: str
    missing: bool = Field(description="every value behind it is missing (no such history)")
    actionable: bool
    contribution: float = Field(description="sum of the group's positive contributions")
    features: list[FeatureContribution]


class FieldChange(BaseModel):
    current: float | None
    proposed: float


class Proposal(BaseModel):
    """A verified change that makes the application granted."""

    kind: str
    change: float = Field(description="relative size of the change (0.1 = 10 %)")
    fields: dict[str, FieldChange]
    probability: float
    decision: str
    threshold: float
    en: str
    fr: str


class ScoreOut(BaseModel):
    """The model's answer for one application, its principal reasons and recourse."""

    client_id: int | None
    probability: float
    decision: Literal["granted", "refused"]
    threshold: float
    distance: float
    model: ModelInfo
    inputs_hash: str = Field(description="SHA-256 of the exact inputs sent to the model")
    catalogue_version: str
    reasons: list[Reason] = Field(description="top reason groups pushing toward refusal")
    recourse: list[Proposal] = Field(description="for a refusal: changes that would grant it")
    recourse_note: str | None = None


class ClientProfile(BaseModel):
    client_id: int
    dataset: str | None
    profile: dict[str, str] = Field(description="readable label -> formatted value")


class OverrideReason(StrEnum):
    """Why an advisor departs from the model's decision (a fixed list)."""

    ADDITIONAL_INCOME_PROOF = "ADDITIONAL_INCOME_PROOF"
    GUARANTOR_OR_COLLATERAL = "GUARANTOR_OR_COLLATERAL"
    DATA_ERROR = "DATA_ERROR"
    LONG_STANDING_CLIENT = "LONG_STANDING_CLIENT"
    AFFORDABILITY_CONCERN = "AFFORDABILITY_CONCERN"
    FRAUD_SUSPICION = "FRAUD_SUSPICION"
    POLICY_EXCEPTION = "POLICY_EXCEPTION"
    OTHER = "OTHER"


class DecisionIn(BaseModel):
    """The advisor's final decision: follow the model, or override it with a reason."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["follow", "override"]
    reason_code: OverrideReason | None = Field(None, description="required to override")
    reason_text: str | None = Field(None, max_length=2000,
                                    description="required to override: the advisor's words")


class ReviewIn(BaseModel):
    """A supervisor's verdict on a pending override (four eyes)."""

    model_config = ConfigDict(extra="forbid")
    verdict: Literal["confirm", "reject"]
    comment: str | None = Field(None, max_length=2000,
                                description="the supervisor's words (required to reject)")

    @model_validator(mode="after")
    def _rejection_says_why(self) -> ReviewIn:
        if self.verdict == "reject" and not (self.comment or "").strip():
            raise ValueError("comment: a rejection needs the supervisor's explanation")
        return self


class DecisionStatus(StrEnum):
    """Where a record stands under four eyes."""

    FINAL = "final"  # follows the model, or an override that needs no review
    PENDING = "pending"  # an override waiting for a supervisor
    CONFIRMED = "confirmed"  # an override a supervisor confirmed
    REJECTED = "rejected"  # an override a supervisor rejected (the model's decision holds)
    REVIEW = "review"  # a supervisor's review record


class DecisionOut(BaseModel):
    """A stored decision record (or a supervisor's review of one: ``review_of``)."""

    id: int
    recorded_at: str
    client_id: int
    inputs_hash: str
    model_name: str
    model_version: str
    model_alias: str
    threshold: float
    probability: float
    model_decision: str
    reasons: list[dict[str, Any]]
    catalogue_version: str
    advisor: str
    final_decision: str
    override_reason_code: str | None
    override_reason_text: str | None
    previous_hash: str
    record_hash: str
    via: str | None = Field(None, description="the system that carried the advisor's request")
    needs_review: bool | None = Field(None, description="an override under four eyes")
    review_of: int | None = Field(None, description="a review: the override it reviews")
    verdict: Literal["confirm", "reject"] | None = None
    review_comment: str | None = None
    status: DecisionStatus = DecisionStatus.FINAL
    reviewed_by: int | None = Field(None, description="the id of the review record")


class DecisionPage(BaseModel):
    total: int
    decisions: list[DecisionOut]


class CheckpointOut(BaseModel):
    """A signed head of the chain (``decisions.checkpoint``)."""

    records: int
    head: str
    at: str
    key_id: str = Field(description="fingerprint of the signing key's public half")


class VerifyOut(BaseModel):
    ok: bool
    records: int = Field(description="records checked")
    head: str = Field(description="hash of the last good record")
    broken_id: int | None = Field(None, description="the first record that breaks the chain")
    problem: str | None = None
    missing_from: int | None = Field(None, description="records missing at the tail: the "
                                     "first (the last checkpoint counted them)")
    missing_to: int | None = Field(None, description="...and the last")
    checkpoint: CheckpointOut | None = Field(None, description="the last signed checkpoint")


def _application_model() -> type[BaseModel]:
    """The body of POST /applications/score: the ``application_test`` fields (required ones
    required, categories as their Kaggle levels) and the optional ``history`` object."""
    kinds = {"int": int, "float": float}
    fields: dict[str, Any] = {}
    for c in APPLICATION_TEST.columns:
        kind = Literal[c.levels] if c.kind == "category" else kinds[c.kind]
        fields[c.name] = ((kind | None, Field(None, description=c.label)) if c.nullable
                          else (kind, Field(description=c.label)))
    fields["history"] = (dict[str, float | None] | None,
                         Field(None, description="stored history features, e.g. "
                               '{"BURO_COUNT": 3}; left out: none'))
    return create_model("Application", __config__=ConfigDict(extra="forbid"), **fields)


Application = _application_model()
