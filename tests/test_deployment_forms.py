"""What the Prefect UI shows in the run form of each deployment."""

import pytest
from prefect.utilities.callables import parameter_schema

from docmill.flows.inbox import process_inbox
from docmill.flows.maintenance import rebuild_warehouse
from docmill.flows.process import process_documents


@pytest.mark.parametrize("flow", [process_documents, process_inbox, rebuild_warehouse])
def test_every_parameter_has_a_default_and_a_description(flow):
    properties = parameter_schema(flow.fn).model_dump()["properties"]
    assert properties
    for name, spec in properties.items():
        assert spec.get("description"), f"{flow.name}.{name} has no description"
        assert "default" in spec, f"{flow.name}.{name} has no default"


def test_workers_are_bounded_in_the_form():
    workers = parameter_schema(process_documents.fn).model_dump()["properties"]["workers"]
    bounds = next(option for option in workers["anyOf"] if option.get("type") == "integer")
    assert (bounds["minimum"], bounds["maximum"]) == (1, 64)
