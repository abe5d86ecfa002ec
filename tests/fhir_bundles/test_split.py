"""split_bundle: each entry's exact resource text, whole-file records for everything else."""

from __future__ import annotations

import json

import pytest

from medlake.fhir.bundles import BundleEntry, split_bundle

OBSERVATION = '{"resourceType": "Observation", "valueQuantity": {"value": 1.50}, "x": 0.12345678901234567890123}'
BATCH = (
    '{"resourceType": "Bundle", "type": "batch", "timestamp": "2025-02-01T00:00:00Z", "entry": [\n'
    '  {"fullUrl": "urn:uuid:6f0a7b1e-0000-4000-8000-000000000001", "resource": ' + OBSERVATION + ',\n'
    '   "request": {"method": "POST", "url": "Observation"}},\n'
    '  {"request": {"method": "DELETE", "url": "Patient/p1"}},\n'
    '  {"resource": {"resourceType": "Patient", "id": "p2"}, "request": {"method": "PUT", "url": "Patient/p2"}}\n'
    ']}'
)


def test_batch_entries_keep_exact_text_and_requests() -> None:
    assert split_bundle(BATCH) == [
        BundleEntry(0, "bundle_entry", OBSERVATION, "POST", "urn:uuid:6f0a7b1e-0000-4000-8000-000000000001",
                    "Observation", "2025-02-01T00:00:00Z"),
        BundleEntry(1, "bundle_entry", '{"request": {"method": "DELETE", "url": "Patient/p1"}}', "DELETE", None,
                    "Patient/p1", "2025-02-01T00:00:00Z"),
        BundleEntry(2, "bundle_entry", '{"resourceType": "Patient", "id": "p2"}', "PUT", None, "Patient/p2",
                    "2025-02-01T00:00:00Z"),
    ]


@pytest.mark.parametrize("text, expected_text", [
    (OBSERVATION, OBSERVATION),  # a single resource
    ("\ufeff" + OBSERVATION + "\n", OBSERVATION),  # byte order mark and trailing newline
    ('{"resourceType": "Bundle", "entry": [', '{"resourceType": "Bundle", "entry": ['),  # cut short
    ('{"resourceType": "Bundle", "entry": []} trailing', '{"resourceType": "Bundle", "entry": []} trailing'),
    ('{"resourceType": "Bundle", "entry": [{"resource": {"n": NaN}}]}',
     '{"resourceType": "Bundle", "entry": [{"resource": {"n": NaN}}]}'),  # not standard JSON
    ('{"resourceType": "Bundle", "type": "collection"}', '{"resourceType": "Bundle", "type": "collection"}'),
    ("[1, 2]", "[1, 2]"),
])
def test_other_files_are_one_file_record(text: str, expected_text: str) -> None:
    assert split_bundle(text) == [BundleEntry(0, "file", expected_text)]


@pytest.mark.parametrize("entry, raw_text", [
    ('"just a string"', '"just a string"'),  # no object: the parse rejects it as no resource
    ('{"fullUrl": "urn:x"}', '{"fullUrl": "urn:x"}'),  # no resource
    ('{"resource": [1]}', "[1]"),
])
def test_entries_without_resource_keep_their_text(entry: str, raw_text: str) -> None:
    (record,) = split_bundle('{"resourceType": "Bundle", "entry": [' + entry + ']}')
    assert (record.position_kind, record.raw_text) == ("bundle_entry", raw_text)


def test_empty_bundle_has_no_records() -> None:
    assert split_bundle('{"resourceType": "Bundle", "type": "searchset", "entry": []}') == []


def test_pretty_printed_entry_is_the_substring() -> None:
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": {"resourceType": "Basic", "id": "b", "code": {"text": "\u5c71\u7530"}}}]}
    text = json.dumps(bundle, indent=2, ensure_ascii=False)
    (record,) = split_bundle(text)
    assert record.raw_text is not None and record.raw_text in text
    assert json.loads(record.raw_text) == bundle["entry"][0]["resource"]
