import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from medlake.quarantine import QuarantineReason
from medlake.synthetic.badrecords import ExpectedRecord, bad_records, write_bad_records

FHIR_REASONS = {QuarantineReason.INVALID_JSON, QuarantineReason.NOT_A_RESOURCE,
                QuarantineReason.UNKNOWN_RESOURCE_TYPE, QuarantineReason.MISSING_ID,
                QuarantineReason.SCHEMA_ROUNDTRIP_MISMATCH}


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[ExpectedRecord]]:
    path = tmp_path_factory.mktemp("bad") / "bad-records.ndjson"
    expected = write_bad_records(path)
    return path.read_bytes(), expected


def test_every_category_has_a_line(written: tuple[bytes, list[ExpectedRecord]]) -> None:
    _, expected = written
    assert {e.reason for e in expected if e.reason} == FHIR_REASONS
    assert any(e.blank for e in expected)
    assert any(e.validate_reason is QuarantineReason.VALIDATION_FAILED and e.reason is None for e in expected)


def test_positions_match_the_file(written: tuple[bytes, list[ExpectedRecord]]) -> None:
    data, expected = written
    lines = data.split(b"\n")
    assert [e.line for e in expected] == list(range(1, len(lines) + 1))
    assert [e.offset for e in expected] == [data.index(line, e.offset) for line, e in zip(lines, expected,
                                                                                            strict=True)]
    assert not data.endswith(b"\n")


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.JSONDecodeError


def _validates(document: dict[str, Any]) -> bool:
    try:
        get_fhir_model_class(document["resourceType"]).model_validate(document)
    except Exception:
        return False
    return True


def test_each_line_is_what_its_reason_says(written: tuple[bytes, list[ExpectedRecord]]) -> None:
    data, expected = written
    for text, entry in zip(data.decode("utf-8").split("\n"), expected, strict=True):
        document = _loads(text)
        if entry.blank:
            assert not text.strip()
        elif entry.reason is QuarantineReason.INVALID_JSON:
            assert document is json.JSONDecodeError
        elif entry.reason is QuarantineReason.NOT_A_RESOURCE:
            assert not isinstance(document, dict) or "resourceType" not in document
        elif entry.reason is QuarantineReason.UNKNOWN_RESOURCE_TYPE:
            with pytest.raises(ValueError, match="not a valid FHIR Model"):
                get_fhir_model_class(document["resourceType"])
        elif entry.reason is QuarantineReason.MISSING_ID:
            assert "id" not in document and _validates(document)
        else:
            assert _validates(document) is (entry.validate_reason is None), entry.note


@pytest.mark.parametrize("chars, limit, reason", [(1024, 20_000_000, None),
                                                   (4000, 1000, QuarantineReason.VALUE_TOO_LARGE)])
def test_large_attachment_is_too_large_only_above_the_limit(chars: int, limit: int,
                                                            reason: QuarantineReason | None) -> None:
    lines = bad_records(attachment_chars=chars, string_limit=limit)
    (text, expected_reason), = [(t, r) for t, r, _, _ in lines if "large-attachment" in t]
    data = json.loads(text)["content"][0]["attachment"]["data"]
    assert len(data) == chars
    assert expected_reason is reason
