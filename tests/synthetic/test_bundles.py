import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from medlake.synthetic.bundles import ResourceState, shared_bundle, transaction_bundle, version_steps
from medlake.synthetic.jsontext import dumps_json
from medlake.synthetic.roster import RosterPatient, roster_patient


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return own + [r for value in node.values() for r in _references(value)]
    if isinstance(node, list):
        return [r for item in node for r in _references(item)]
    return []


def test_transaction_bundle_files_are_written_per_patient(generated: Path, roster: tuple[RosterPatient, ...]) -> None:
    names = {p.name for p in (generated / "fhir-bundles").glob("*.json")}
    assert names == {f"{p.id}.json" for p in roster} | {"shared-information.json"}


@pytest.mark.parametrize("index", [0, 1, 2])
def test_transaction_bundle_is_valid_and_self_referencing(index: int) -> None:
    bundle = json.loads(dumps_json(transaction_bundle(roster_patient(index, 3), 3)), parse_float=Decimal)
    get_fhir_model_class("Bundle").model_validate(bundle)
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    conditional = {f"{e['request']['url']}?{e['request']['ifNoneExist']}" for e in shared_bundle(3)["entry"]}
    references = _references(bundle["entry"])
    internal = [r for r in references if r.startswith("urn:uuid:")]
    assert internal and set(internal) <= full_urls
    assert {r for r in references if "?identifier=" in r} <= conditional
    assert all(r.startswith(("urn:uuid:", "#")) or "?identifier=" in r for r in references)
    methods = {(e["resource"]["resourceType"], e["request"]["method"]) for e in bundle["entry"]}
    assert ("Patient", "PUT") in methods and ("Observation", "POST") in methods
    assert all("id" not in e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Immunization")
    assert all(e["fullUrl"] == f"urn:uuid:{e['resource']['id']}" for e in bundle["entry"] if "id" in e["resource"])


@pytest.fixture(scope="module")
def steps() -> list[Any]:
    return version_steps(roster_patient(0, 3), 3)


def _records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line, parse_float=Decimal) for line in text.splitlines()]


def test_steps_validate(steps: list[Any]) -> None:
    for step in steps:
        documents = [json.loads(step.text)] if step.name.endswith(".json") else _records(step.text)
        for document in documents:
            get_fhir_model_class(document["resourceType"]).model_validate(document)


def test_batch_mixes_put_post_and_delete(steps: list[Any]) -> None:
    batch = json.loads(steps[0].text)
    assert batch["type"] == "batch" and batch["timestamp"]
    assert [e["request"]["method"] for e in batch["entry"]] == ["PUT", "POST", "DELETE", "DELETE"]
    assert "id" not in batch["entry"][1]["resource"]


def test_versions_need_numeric_and_instant_ordering(steps: list[Any]) -> None:
    patient_10, patient_9, obs_4, obs_3 = _records(steps[2].text)
    assert patient_10["meta"]["lastUpdated"] == patient_9["meta"]["lastUpdated"]
    assert ("9" > "10") and int(patient_10["meta"]["versionId"]) > int(patient_9["meta"]["versionId"])
    assert obs_3["meta"]["lastUpdated"] > obs_4["meta"]["lastUpdated"]  # as text, version 3 looks newer
    from datetime import datetime
    instant = lambda r: datetime.fromisoformat(r["meta"]["lastUpdated"])  # noqa: E731
    assert instant(obs_4) > instant(obs_3)


def test_delete_then_older_then_newer(steps: list[Any]) -> None:
    deleted = next(e["request"]["url"] for e in json.loads(steps[0].text)["entry"] if e["request"]["method"] == "DELETE")
    delete_time = json.loads(steps[0].text)["timestamp"]
    (older,), (newer,) = _records(steps[1].text), _records(steps[3].text)
    assert f"Observation/{older['id']}" == f"Observation/{newer['id']}" == deleted
    assert older["meta"]["lastUpdated"] < delete_time < newer["meta"]["lastUpdated"]
    assert [s.expected[deleted] for s in steps] == [ResourceState(False, tombstone=True)] * 3 + [
        ResourceState(True, "3")]
