"""read_bundles and resolve_references on the generator's transaction Bundles and batch Bundle."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from medlake.fhir.bundles import read_bundles
from medlake.fhir.parse import parse_resources
from medlake.fhir.references import (
    PARSE_TEXT_COLUMN,
    UNRESOLVED_COLUMN,
    conditional_reference_types,
    resolve_references,
)
from medlake.listing import list_files, listing_frame
from medlake.synthetic.roster import roster_patient
from tests.fhir_bundles.conftest import PATIENTS, SEED

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

BROKEN = '{"resourceType": "Bundle", "type": "batch", "entry": [{"resource": {"resourceType": "Basic", "n": 1.50}'
DANGLING = json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [{
    "fullUrl": "urn:uuid:00000000-0000-4000-8000-00000000000a",
    "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                 "subject": {"reference": "urn:uuid:00000000-0000-4000-8000-00000000000b"},
                 "performer": [{"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|0000000000"}]},
    "request": {"method": "POST", "url": "Observation"}}]})


def _decimals(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


@pytest.fixture(scope="module")
def bundle_dir(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The transaction Bundles, the shared batch Bundle, the versions batch, a broken and a dangling Bundle."""
    directory = tmp_path_factory.mktemp("bundle-files")
    for path in (generated / "fhir-bundles").glob("*.json"):
        (directory / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (directory / "01-batch.json").write_text(
        (generated / "fhir-versions" / "01-batch.json").read_text(encoding="utf-8"), encoding="utf-8")
    (directory / "broken.json").write_text(BROKEN, encoding="utf-8")
    (directory / "dangling.json").write_text(DANGLING, encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def records(spark: Any, bundle_dir: Path) -> Any:
    result = read_bundles(spark, listing_frame(spark, list_files(spark, [str(bundle_dir)], r"\.json$"))).cache()
    yield result
    result.unpersist()


@pytest.fixture(scope="module")
def resolved(records: Any) -> Any:
    result = resolve_references(records, search_types=conditional_reference_types(records)).cache()
    yield result
    result.unpersist()


@pytest.fixture(scope="module")
def collected(resolved: Any) -> dict[tuple[str, int], Any]:
    return {(row.source_uri.rsplit("/", 1)[1], row.position): row for row in resolved.collect()}


def test_one_record_per_entry_with_its_exact_text(bundle_dir: Path, collected: dict[tuple[str, int], Any]) -> None:
    expected = {}
    for path in bundle_dir.glob("*.json"):
        if path.name == "broken.json":
            continue
        text = path.read_text(encoding="utf-8")
        for index, entry in enumerate(_decimals(text)["entry"]):
            expected[(path.name, index)] = entry
    assert set(collected) == {*expected, ("broken.json", 0)}
    for key, entry in expected.items():
        row = collected[key]
        request = entry.get("request", {})
        assert (row.position_kind, row.request_method, row.request_url, row.full_url) == (
            "bundle_entry", request.get("method"), request.get("url"), entry.get("fullUrl"))
        text = (bundle_dir / key[0]).read_text(encoding="utf-8")
        assert row.raw_text in text
        assert _decimals(row.raw_text) == entry.get("resource", entry)


def test_decimal_text_is_kept(collected: dict[tuple[str, int], Any]) -> None:
    trailing_zero = re.compile(r":\s*-?[0-9]+\.[0-9]*0(?=[,\s}\]])")
    kept = [match for row in collected.values() if row.raw_text for match in trailing_zero.findall(row.raw_text)]
    assert kept, "the generated Bundles should hold decimals such as 1.50"


def test_batch_bundle_mixes_put_post_delete(collected: dict[tuple[str, int], Any]) -> None:
    batch = sorted((position, row.request_method, str(row.request_time))
                   for (name, position), row in collected.items() if name == "01-batch.json")
    assert batch == [(0, "PUT", "2025-02-01 00:00:00"), (1, "POST", "2025-02-01 00:00:00"),
                     (2, "DELETE", "2025-02-01 00:00:00"), (3, "DELETE", "2025-02-01 00:00:00")]


def test_invalid_bundle_is_one_file_record_quarantined_as_invalid_json(resolved: Any) -> None:
    broken = resolved.where(resolved.source_uri.endswith("/broken.json"))
    parsed = parse_resources(broken, "Basic", PARSE_TEXT_COLUMN)
    assert [(r.position, r.position_kind, r.raw_text, r.parse_error) for r in parsed.collect()] == [
        (0, "file", BROKEN, "invalid_json")]


def test_urn_uuid_references_join_their_patient(resolved: Any) -> None:
    from pyspark.sql import functions as F

    def typed(resource_type: str) -> Any:
        rows = resolved.where(F.get_json_object(PARSE_TEXT_COLUMN, "$.resourceType") == resource_type)
        parsed = parse_resources(rows.where(~rows.source_uri.endswith("/dangling.json")), resource_type,
                                 PARSE_TEXT_COLUMN)
        return parsed.where(F.col("parse_error").isNull()).select("resource.*")

    observations = typed("Observation").select("id", F.col("subject.reference").alias("subject")).cache()
    patients = typed("Patient").select("id").distinct()  # the batch Bundle PUTs a second version of one
    joined = observations.join(patients, observations.subject == F.concat(F.lit("Patient/"), patients.id))
    assert patients.count() == PATIENTS
    assert observations.count() > 0
    assert joined.count() == observations.count()
    observations.unpersist()


def test_entries_without_id_get_their_fullurl_uuid(resolved: Any) -> None:
    from pyspark.sql import functions as F

    from medlake.synthetic.fhir import patient_resources

    expected = sorted(
        r["id"] for index in range(PATIENTS)
        for r in patient_resources(roster_patient(index, seed=SEED), SEED) if r["resourceType"] == "Immunization")
    immunizations = resolved.where(F.get_json_object("raw_text", "$.resourceType") == "Immunization")
    assert immunizations.where(F.get_json_object("raw_text", "$.id").isNotNull()).count() == 0
    ids = sorted(row[0] for row in immunizations.select(F.get_json_object(PARSE_TEXT_COLUMN, "$.id")).collect())
    assert ids == expected


def test_conditional_references_resolve_to_the_shared_resources(resolved: Any, collected: dict[tuple[str, int], Any]) -> None:
    texts = [row.parse_text for (name, _), row in collected.items() if name != "dangling.json" and row.parse_text]
    assert not [t for t in texts if "?identifier=" in t]
    assert any('"reference": "Practitioner/' in t for t in texts)
    assert sum(row[UNRESOLVED_COLUMN] for (name, _), row in collected.items() if name != "dangling.json") == 0


def test_unresolvable_references_are_kept_and_counted(collected: dict[tuple[str, int], Any]) -> None:
    row = collected[("dangling.json", 0)]
    assert row[UNRESOLVED_COLUMN] == 2
    assert json.loads(row.parse_text) == {**json.loads(row.raw_text), "id": "00000000-0000-4000-8000-00000000000a"}
