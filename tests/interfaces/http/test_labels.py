"""Labels are checked against the model's target; monitoring skips (and counts) bad stored ones."""

from __future__ import annotations

import pandas as pd
import pytest

from shipyard.monitoring.report import build_report
from shipyard.telemetry.feedback import FeedbackLog
from tests.helpers import cli_json
from tests.interfaces.http.conftest import InProcess


@pytest.fixture
def inprocess_database(database_url: str) -> str:
    """Labels touch the registry (the version's target, the overwrite audit): both databases."""
    return database_url


def predict(app: InProcess, endpoint: str, rows: list[dict[str, float]]) -> str:
    response = app.client.post(f"/v1/models/{endpoint}/predict", json=rows)
    assert response.status_code == 200, response.text
    return str(response.json()["request_id"])


def cancer_rows(cancer: tuple[pd.DataFrame, pd.Series], n: int) -> list[dict[str, float]]:
    return [{k: float(v) for k, v in r.items()} for r in cancer[0].head(n).to_dict("records")]


@pytest.mark.parametrize(
    ("label", "field", "fragment"),
    [
        ("oops", "items[0].label", "one of the classes seen in training (0, 1), got 'oops'"),
        ({"a": 1}, "items[0].label", "got {'a': 1}"),
        (7, "items[0].label", "got 7"),
        (True, "items[0].label", "got True"),
    ],
)
def test_a_label_outside_the_classes_is_400_naming_the_field(
    inprocess: InProcess,
    cancer: tuple[pd.DataFrame, pd.Series],
    label: object,
    field: str,
    fragment: str,
) -> None:
    rid = predict(inprocess, "cancer", cancer_rows(cancer, 1))
    response = inprocess.client.post("/v1/feedback", json={"request_id": rid, "label": label})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["field"] == field
    assert fragment in body["error"]
    ok = inprocess.client.post("/v1/feedback", json={"request_id": rid, "label": 1})
    assert ok.json()["accepted"] == 1  # nothing was written by the refused call


def test_a_list_label_names_the_row(
    inprocess: InProcess, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    rid = predict(inprocess, "cancer", cancer_rows(cancer, 3))
    response = inprocess.client.post(
        "/v1/feedback", json=[{"request_id": rid, "label": [0, "x", 1]}]
    )
    assert response.status_code == 400
    assert response.json()["field"] == "items[0].label[1]"


@pytest.mark.parametrize("label", ["12.5", None, [[1.0]], {"v": 1}, True])
def test_a_regressor_takes_finite_numbers_only(inprocess: InProcess, label: object) -> None:
    rid = predict(inprocess, "price", [{"mean radius": 14.0, "mean texture": 19.0}])
    response = inprocess.client.post("/v1/feedback", json={"request_id": rid, "label": label})
    if label is None:  # a missing label is reported, as before
        assert response.json()["invalid"] == [rid]
    else:
        assert response.status_code == 400, response.text
        assert "expected a finite number" in response.json()["error"]
    # JSON cannot carry inf/nan; orjson refuses them on the way in too
    bad = inprocess.client.post(
        "/v1/feedback",
        content=b'{"request_id": "%s", "label": Infinity}' % rid.encode(),
        headers={"content-type": "application/json"},
    )
    assert bad.status_code == 400
    good = inprocess.client.post("/v1/feedback", json={"request_id": rid, "label": 612.5})
    assert good.json()["accepted"] == 1


def test_overwriting_needs_the_flag_and_is_audited(
    inprocess: InProcess, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    rid = predict(inprocess, "cancer", cancer_rows(cancer, 1))
    post = inprocess.client.post
    assert post("/v1/feedback", json={"request_id": rid, "label": 1}).json()["accepted"] == 1
    again = post("/v1/feedback", json={"request_id": rid, "label": 0})
    assert again.status_code == 409
    assert "overwrite" in again.json()["error"]
    assert not inprocess.services.registry.audit(action="feedback.overwrite")
    replaced = post("/v1/feedback", json={"request_id": rid, "label": 0, "overwrite": True})
    assert replaced.json()["accepted"] == 1
    events = inprocess.services.registry.audit(action="feedback.overwrite")
    assert len(events) == 1 and events[0].details["request_ids"] == [rid]
    wrong = post("/v1/feedback", json={"request_id": rid, "label": 0, "overwrite": "yes"})
    assert wrong.status_code == 400 and wrong.json()["field"] == "overwrite"


def test_monitoring_skips_and_counts_bad_stored_labels(
    inprocess: InProcess, cancer: tuple[pd.DataFrame, pd.Series], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = cancer_rows(cancer, 40)
    ids = [predict(inprocess, "cancer", [row]) for row in rows]
    truth = [int(v) for v in cancer[1].head(40)]
    services = inprocess.services
    # labels stored before they were checked (an older server): written without the rule
    unchecked = FeedbackLog(services.settings.resolved_logs_uri(), services.logs)
    inprocess.client.post(  # publishes the queued predictions
        "/v1/feedback",
        json=[{"request_id": i, "label": t} for i, t in zip(ids[1:], truth[1:], strict=True)],
    )
    unchecked.append([(ids[0], "oops")])

    result = services.monitoring.run("cancer")
    assert result.invalid_labels == 1
    assert result.performance["n"] == 39
    assert result.values()["labels.invalid"] == 1.0
    report = build_report(
        services.monitoring,
        "cancer",
        window=pd.Timedelta(hours=1).to_pytimedelta(),
        history_since=result.window_start,
    )
    assert any("1 stored label(s) do not fit" in note for note in report.notes)
    services.logs.close()
    monkeypatch.setenv("SHIPYARD_DATABASE_URL", services.settings.resolved_database_url())
    run = cli_json(inprocess.home, "monitor", "run", "cancer")  # a real process: exits 0
    assert run["invalid_labels"] == 1
