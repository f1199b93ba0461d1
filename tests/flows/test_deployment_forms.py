"""What the Prefect UI shows in the run form of each deployment: every parameter with its default
as its value, choices as dropdowns, nothing that has a default offered as None."""

import json
import os
import subprocess
import sys

import pytest
from conftest import PROJECT_ROOT
from prefect.utilities.callables import parameter_schema

from docmill.flows.inbox import process_inbox
from docmill.flows.maintenance import compact_warehouse, rebuild_warehouse
from docmill.flows.process import process_documents
from docmill.flows.settings import Settings

FLOWS = [process_documents, process_inbox, rebuild_warehouse, compact_warehouse]


def _properties(flow) -> dict[str, dict]:
    return parameter_schema(flow.fn).model_dump()["properties"]


@pytest.mark.parametrize("flow", FLOWS, ids=lambda flow: flow.name)
def test_every_parameter_has_a_default_and_a_description(flow):
    properties = _properties(flow)
    assert properties
    for name, spec in properties.items():
        assert spec.get("description"), f"{flow.name}.{name} has no description"
        assert "default" in spec, f"{flow.name}.{name} has no default"


@pytest.mark.parametrize("flow", FLOWS, ids=lambda flow: flow.name)
def test_no_parameter_is_offered_as_none(flow):
    for name, spec in _properties(flow).items():
        assert spec["default"] is not None, f"{flow.name}.{name} defaults to None"
        assert "anyOf" not in spec, f"{flow.name}.{name} is a choice of types: {spec['anyOf']}"


@pytest.mark.parametrize("flow", FLOWS, ids=lambda flow: flow.name)
def test_a_parameter_named_after_a_setting_defaults_to_it(flow):
    settings = Settings()
    setting_of = {"grace_seconds": "gc_grace_seconds"}
    compared = 0
    for name, spec in _properties(flow).items():
        setting = setting_of.get(name, name)
        if setting in Settings.model_fields:
            assert spec["default"] == getattr(settings, setting), f"{flow.name}.{name}"
            compared += 1
    assert compared


def test_the_empty_defaults_of_process_documents_mean_what_the_form_says():
    properties = _properties(process_documents)
    assert properties["sources"]["default"] == []
    assert "Empty: rerun" in properties["sources"]["description"]
    assert properties["batch_id"]["default"] == ""
    assert "Empty: derived" in properties["batch_id"]["description"]
    assert properties["dask_address"]["default"] == ""


@pytest.mark.parametrize(
    ("name", "choices"),
    [
        ("profile", ["accurate", "fast"]),
        ("dedup", ["near", "exact", "off"]),
        ("task_runner", ["local", "dask"]),
    ],
)
def test_choices_are_a_dropdown(name, choices):
    spec = _properties(process_documents)[name]
    assert (spec["type"], spec["enum"]) == ("string", choices)


def test_workers_are_bounded_in_the_form():
    workers = _properties(process_documents)["workers"]
    assert (workers["type"], workers["minimum"], workers["maximum"]) == ("integer", 1, 64)


def test_a_python_caller_may_still_pass_none_for_no_sources():
    # `docmill run --batch-id ID` without sources passes None.
    given = process_documents.validate_parameters({"sources": None, "batch_id": "b"})
    assert given["sources"] == []


def test_docmill_variables_decide_the_defaults_where_the_flows_are_served_or_deployed(tmp_path):
    """`docmill serve` and `prefect deploy` import the flows; what DOCMILL_* say there is what
    the deployments' forms show."""
    script = (
        "import json\n"
        "from prefect.utilities.callables import parameter_schema\n"
        "from docmill.flows.inbox import process_inbox\n"
        "from docmill.flows.maintenance import compact_warehouse\n"
        "from docmill.flows.process import process_documents\n"
        "print(json.dumps({f.name: {n: p['default'] for n, p in "
        "parameter_schema(f.fn).model_dump()['properties'].items()} "
        "for f in (process_documents, process_inbox, compact_warehouse)}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCMILL_")}
    env.update(
        DOCMILL_DATA_DIR=str(tmp_path / "lake"),
        DOCMILL_WORKERS="3",
        DOCMILL_PROFILE="fast",
        DOCMILL_DEDUP="exact",
        DOCMILL_CLEAN_STEPS='["normalize_whitespace"]',
        DOCMILL_QUALITY_THRESHOLDS='{"min_words": 50}',
        DOCMILL_INBOX=str(tmp_path / "inbox"),
        DOCMILL_GC_GRACE_SECONDS="5",
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    defaults = json.loads(done.stdout)
    documents = defaults["process-documents"]
    assert documents["data_dir"] == str(tmp_path / "lake")
    assert (documents["workers"], documents["profile"], documents["dedup"]) == (3, "fast", "exact")
    assert documents["clean_steps"] == ["normalize_whitespace"]
    assert documents["quality_thresholds"] == {"min_words": 50}
    assert defaults["process-inbox"]["inbox"] == str(tmp_path / "inbox")
    assert defaults["compact-warehouse"]["grace_seconds"] == 5


def test_served_deployments_agree_with_prefect_yaml(monkeypatch):
    """`docmill serve` and `prefect deploy` publish the same deployments: names, flows,
    descriptions, tags and (with no DOCMILL_*_CRON set) schedules."""
    import yaml

    from docmill.flows.serve import deployments

    for variable in ("DOCMILL_INBOX_CRON", "DOCMILL_MAINTENANCE_CRON", "DOCMILL_COMPACTION_CRON"):
        monkeypatch.delenv(variable, raising=False)
    spec = yaml.safe_load((PROJECT_ROOT / "deployments" / "prefect.yaml").read_text())
    flows_by_entrypoint = {
        "flows/process.py:process_documents": process_documents.name,
        "flows/inbox.py:process_inbox": process_inbox.name,
        "flows/maintenance.py:rebuild_warehouse": rebuild_warehouse.name,
        "flows/maintenance.py:compact_warehouse": compact_warehouse.name,
    }
    declared = {
        entry["name"]: {
            "flow": flows_by_entrypoint[entry["entrypoint"]],
            "description": " ".join(entry["description"].split()),
            "tags": entry["tags"],
            "crons": [schedule["cron"] for schedule in entry.get("schedules", [])],
        }
        for entry in spec["deployments"]
    }
    served = {
        deployment.name: {
            "flow": deployment.flow_name,
            "description": deployment.description,
            "tags": deployment.tags,
            "crons": [schedule.schedule.cron for schedule in deployment.schedules or []],
        }
        for deployment in deployments(Settings())
    }
    assert served == declared
