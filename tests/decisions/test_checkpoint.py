"""Signed checkpoints catch a record cut at its tail; extracts verify offline."""

from __future__ import annotations

import csv
import json
import sqlite3

import pytest
from typer.testing import CliRunner

from cli import app as cli
from decisions import checkpoint
from decisions.export import sidecar, verify_export
from tests.decisions.conftest import ALICE, SUE

pytestmark = pytest.mark.server


def _follow(service, ids) -> None:
    for cid in ids:
        answer = service.post(f"/clients/{cid}/decisions", json={"action": "follow"},
                              auth=ALICE)
        assert answer.status_code == 201, answer.text


def _env(tmp_path) -> dict[str, str]:
    """The service's files as `scoring decisions` finds them (the defaults beside the db)."""
    return {"DECISIONS_DB_URL": f"sqlite:///{tmp_path / 'decisions.db'}"}


def test_every_write_is_checkpointed_and_a_cut_tail_is_named(service, scored_ids, tmp_path):
    _follow(service, scored_ids["refused"][:5])
    lines = (tmp_path / "decisions.checkpoints.jsonl").read_text().splitlines()
    assert [json.loads(line)["records"] for line in lines] == [1, 2, 3, 4, 5]
    public = checkpoint.load_or_create_key(tmp_path / "decisions.signing-key").public_key()
    assert checkpoint.signature_ok(public, checkpoint.Checkpoint.from_json(lines[-1]))
    ok = service.get("/decisions/verify", auth=SUE).json()
    assert ok["ok"] and ok["checkpoint"]["records"] == 5

    with sqlite3.connect(tmp_path / "decisions.db") as conn:  # the newest two, removed
        conn.execute("DROP TRIGGER decision_records_no_delete")
        conn.execute("DELETE FROM decision_records WHERE id >= 4")
    body = service.get("/decisions/verify", auth=SUE).json()
    assert body["ok"] is False and (body["missing_from"], body["missing_to"]) == (4, 5)
    assert "records 4 to 5 are missing at the tail" in body["problem"]
    # nothing is written on a cut chain (that would hide the cut)
    refused = service.post(f"/clients/{scored_ids['granted'][0]}/decisions",
                           json={"action": "follow"}, auth=ALICE)
    assert refused.status_code == 503 and "records 4 to 5 are missing" in refused.text
    # and the command line says the same from the files alone
    run = CliRunner().invoke(cli, ["decisions", "verify"], env=_env(tmp_path))
    assert run.exit_code == 1 and "records 4 to 5 are missing" in run.output


def test_an_altered_checkpoint_file_is_caught(service, scored_ids, tmp_path):
    _follow(service, scored_ids["refused"][:2])
    path = tmp_path / "decisions.checkpoints.jsonl"
    forged = json.loads(path.read_text().splitlines()[-1]) | {"records": 1}
    path.write_text(path.read_text() + json.dumps(forged) + "\n")
    run = CliRunner().invoke(cli, ["decisions", "verify"], env=_env(tmp_path))
    assert run.exit_code == 1 and "signature" in run.output


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_extract_verifies_offline_and_an_edit_is_named(service, scored_ids, tmp_path,
                                                          suffix):
    _follow(service, scored_ids["refused"][:2])
    service.post(f"/clients/{scored_ids['granted'][0]}/decisions", auth=ALICE,
                 json={"action": "override", "reason_code": "DATA_ERROR",
                       "reason_text": "income, typed \"without\" a zero,\nchecked"})
    out = tmp_path / f"extract{suffix}"
    run = CliRunner().invoke(cli, ["decisions", "export", "--out", str(out)],
                             env=_env(tmp_path))
    assert run.exit_code == 0, run.output
    assert "wrote 3 records" in run.output
    check = verify_export(out)
    assert check.ok and check.records == 3, check.problem
    run = CliRunner().invoke(cli, ["decisions", "verify", "--export", str(out)])
    assert run.exit_code == 0 and "3 records, chain whole" in run.output
    meta = json.loads(sidecar(out).read_text())
    assert meta["checkpoint"]["records"] == 3 and "BEGIN PUBLIC KEY" in meta["public_key"]

    other = checkpoint.public_pem(checkpoint.load_or_create_key(tmp_path / "other").public_key())
    assert "another key" in verify_export(out, public_key=other).problem
    if suffix == ".csv":  # an edited cell, with the file's hash brought up to date
        rows = list(csv.reader(out.open(newline="")))
        rows[2][rows[0].index("probability")] = "0.01"
        with out.open("w", newline="") as f:
            csv.writer(f).writerows(rows)
        from decisions.export import _sha256

        sidecar(out).write_text(json.dumps(meta | {"sha256": _sha256(out)}))
        check = verify_export(out)
        assert not check.ok and check.broken_id == 2 and "altered" in check.problem
    else:
        out.write_bytes(out.read_bytes()[:-1] + b"\0")
        assert "SHA-256" in verify_export(out).problem
