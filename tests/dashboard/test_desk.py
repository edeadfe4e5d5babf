"""The decision desk against the real decision service (in-process, FastAPI's TestClient)
on a SQLite file and the session's real model server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from dashboard.decision_client import DecisionClient
from dashboard.desk import DecisionDesk
from dashboard.i18n import language
from decisions.app import create_app
from decisions.config import Settings
from scoring.store import client_ids

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def service(system, model_server, tmp_path) -> Iterator[TestClient]:
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'decisions.db'}", model_url=model_server,
                        store=str(system.store), advisors={"alice": "alice-pw"})
    with TestClient(create_app(settings)) as client:
        yield client


def _desk(service: TestClient, code: str = "fr", password: str = "alice-pw") -> DecisionDesk:
    return DecisionDesk(DecisionClient("", "alice", password, session=service),
                        t=language(code))


def test_confirm_and_override_are_recorded_and_listed(service, system):
    client_id = client_ids(system.store, "train")[5]
    desk = _desk(service)
    desk.load(client_id)
    assert desk.assessment is not None and desk.history == [] and desk.message == ""
    model = desk.assessment.decision
    assert desk.confirm()
    assert desk.saved.startswith("Décision enregistrée") and desk.error == ""
    assert not desk.override("", "le client a apporté un justificatif")
    assert "Choisissez pourquoi" in desk.error
    assert not desk.override("ADDITIONAL_INCOME_PROOF", "   ")
    assert "justification est obligatoire" in desk.error
    assert len(desk.history) == 1  # nothing was sent for the refused overrides
    assert desk.override("ADDITIONAL_INCOME_PROOF", "bulletins de salaire fournis")
    latest, first = desk.history
    assert first.final_decision == model and first.override_reason_code is None
    assert latest.final_decision != model and latest.advisor == "alice"
    assert latest.override_reason_text == "bulletins de salaire fournis"
    again = _desk(service, "en")
    again.load(client_id)
    assert [d.id for d in again.history] == [latest.id, first.id]  # earlier decisions


def test_service_refusal_and_absence_are_said(service, system):
    client_id = client_ids(system.store, "train")[6]
    wrong = _desk(service, "en", password="wrong")
    wrong.load(client_id)
    assert "refused the dashboard's credentials" in wrong.message and wrong.assessment is None
    down = DecisionDesk(DecisionClient("http://127.0.0.1:9", "alice", "x", timeout=2),
                        t=language("en"))
    down.load(client_id)
    assert "unreachable" in down.message and "127.0.0.1" not in down.message
    none = DecisionDesk(None, t=language("en"))
    none.load(client_id)
    assert not none.available and not none.confirm()
