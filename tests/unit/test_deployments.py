"""prefect.yaml: every deployment loads its flow, its parameters validate, its schedule parses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
from prefect.flows import load_flow_from_entrypoint

REPO = Path(__file__).resolve().parents[2]


def deployments() -> list[dict]:
    return yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]


def test_the_deployments_we_promise_exist() -> None:
    names = {d["name"]: d for d in deployments()}
    assert set(names) == {"nightly", "alert-check", "train"}
    assert names["nightly"]["schedules"][0]["cron"] == "0 2 * * *"
    assert "schedules" not in names["train"]  # on demand
    for d in names.values():
        assert d["work_pool"]["name"] == "radar"


@pytest.mark.parametrize("deployment", deployments(), ids=lambda d: d["name"])
def test_entrypoint_parameters_and_schedules_validate(deployment: dict,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    path, name = deployment["entrypoint"].split(":")
    assert path.startswith("flows/") and (REPO / path).is_file()
    flow = load_flow_from_entrypoint(str(REPO / deployment["entrypoint"]))
    assert flow.fn.__name__ == name
    flow.validate_parameters(deployment.get("parameters") or {})
    for schedule in deployment.get("schedules", []):
        if "cron" in schedule:
            CronSchedule(cron=schedule["cron"], timezone=schedule.get("timezone", "UTC"))
        else:
            IntervalSchedule(interval=schedule["interval"])


def test_a_bad_parameter_is_refused() -> None:
    flow = load_flow_from_entrypoint(str(REPO / "flows/pipeline.py:pipeline"))
    with pytest.raises(Exception, match="params"):
        flow.validate_parameters({"params": {"db_path": "x.duckdb", "no_such_setting": 1}})
