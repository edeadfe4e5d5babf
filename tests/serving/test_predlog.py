"""The prediction log writer and reader, without a server."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from serving import predlog


def _batch(n: int, start: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    inputs = pd.DataFrame({"SK_ID_CURR": range(start, start + n), "AMT_CREDIT": 1000.0})
    outputs = pd.DataFrame({"probability": 0.1, "decision": "granted", "threshold": 0.5,
                            "reasons": [[]] * n}, index=range(n))
    return inputs, outputs


def test_appended_batches_are_written_by_the_thread(tmp_path):
    log = predlog.PredictionLog(tmp_path, model_version="7", interval=0.1)
    log.append(*_batch(3))
    log.append(*_batch(2, start=3))
    deadline = time.monotonic() + 5
    while log.written < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    log.close()
    frame = predlog.read_log(tmp_path)
    assert sorted(frame["SK_ID_CURR"]) == [0, 1, 2, 3, 4]
    assert set(frame["model_version"]) == {"7"}
    assert "reasons" not in frame.columns
    assert str(frame["scored_at"].dt.tz) == "UTC"


def test_close_flushes_what_is_queued(tmp_path):
    log = predlog.PredictionLog(tmp_path, interval=60)
    log.append(*_batch(4))
    log.close()
    assert len(predlog.read_log(tmp_path)) == 4


def test_a_full_queue_drops_instead_of_blocking(tmp_path):
    log = predlog.PredictionLog(tmp_path, interval=60, max_pending=1)
    log.append(*_batch(1))
    start = time.perf_counter()
    log.append(*_batch(2))
    assert time.perf_counter() - start < 1.0  # a blocked put would wait for the 60 s writer
    assert log.dropped == 2
    log.close()


def test_logging_is_off_without_the_variable(monkeypatch):
    monkeypatch.delenv(predlog.LOG_ENV, raising=False)
    assert predlog.from_environment() is None


def test_reading_an_empty_folder_says_what_to_set(tmp_path):
    with pytest.raises(FileNotFoundError, match=predlog.LOG_ENV):
        predlog.read_log(tmp_path)


def test_the_history_object_is_logged_as_feature_columns(tmp_path):
    inputs = pd.DataFrame({"SK_ID_CURR": [1, 2],
                           "history": [{"BURO_COUNT": 3, "INST_DPD_MEAN": 0.5}, {}]})
    outputs = pd.DataFrame({"probability": [0.1, 0.2], "decision": ["granted", "granted"],
                            "threshold": [0.3, 0.3], "distance": [-0.2, -0.1]})
    log = predlog.PredictionLog(tmp_path, model_version="7", interval=3600)
    log.append(inputs, outputs)
    log.close()
    frame = predlog.read_log(tmp_path)
    assert "history" not in frame
    assert frame["BURO_COUNT"].tolist()[0] == 3
    assert pd.isna(frame["BURO_COUNT"].tolist()[1])


def test_every_file_has_every_application_field(tmp_path):
    """Requests may leave optional fields out; the log still has one schema for every file."""
    from scoring.schema import APPLICATION_TEST

    log = predlog.PredictionLog(tmp_path, interval=3600)
    log.append(*_batch(2))
    log.flush()
    inputs, outputs = _batch(1, start=2)
    log.append(inputs.assign(EXT_SOURCE_1=0.5), outputs)
    log.close()
    files = sorted(tmp_path.glob("part-*.parquet"))
    assert len(files) == 2
    columns = [list(pd.read_parquet(f).columns) for f in files]
    assert columns[0] == columns[1]
    assert set(APPLICATION_TEST.names) <= set(columns[0])
    frame = predlog.read_log(tmp_path)
    assert frame["EXT_SOURCE_1"].isna().tolist() == [True, True, False]


def test_an_http_requests_objects_are_logged_as_a_frame_would_be(tmp_path):
    """The served model queues an HTTP request's ``inputs`` (one object per application) and
    its answer objects as they are; the writing thread makes the same records of them."""
    inputs = [{"SK_ID_CURR": 1, "AMT_CREDIT": 1000.0, "history": {"BURO_COUNT": 3}},
              {"SK_ID_CURR": 2, "history": {}}]
    outputs = [{"probability": 0.1, "decision": "granted", "threshold": 0.3, "distance": -0.2,
                "reasons": []},
               {"probability": 0.4, "decision": "refused", "threshold": 0.3, "distance": 0.1,
                "reasons": []}]
    log = predlog.PredictionLog(tmp_path, model_version="7", interval=3600)
    log.append(inputs, outputs)
    log.close()
    frame = predlog.read_log(tmp_path)
    assert frame["SK_ID_CURR"].tolist() == [1, 2]
    assert frame["BURO_COUNT"].tolist()[0] == 3 and pd.isna(frame["AMT_CREDIT"].tolist()[1])
    assert frame["decision"].tolist() == ["granted", "refused"]
