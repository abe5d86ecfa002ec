"""A bulk NDJSON file with records for every FHIR quarantine category, and where each must end.

Positions are 1-based line numbers (and the byte offset where the line starts). Every line is
listed in the manifest:

- ``reason is None`` and not blank: the record loads (unless ``validate_reason`` applies under
  ``--validate``);
- a reason: the record goes to ``fhir.quarantine`` with that reason;
- ``blank``: an empty or whitespace-only line. It holds no record, so an ingest skips it and
  counts it apart (it is neither loaded nor quarantined): ``in = loaded + quarantined`` counts
  records, not lines. Bulk-export readers (and Spark's JSON reader) skip such lines the same way.

The last line has no line feed after it, as in files cut by hand, and must still load.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from medlake.quarantine import QuarantineReason
from medlake.synthetic.jsontext import dumps_json, exact_decimal

__all__ = ["JSON_STRING_LIMIT", "ExpectedRecord", "bad_records", "write_bad_records"]

JSON_STRING_LIMIT = 20_000_000
"""Jackson's default ``StreamReadConstraints`` maximum string length, in characters."""

_PREFIX = "bad-records"


@dataclass(frozen=True)
class ExpectedRecord:
    """Where one line of the bad-records file must end."""

    line: int
    offset: int
    reason: QuarantineReason | None
    note: str
    validate_reason: QuarantineReason | None = None
    blank: bool = False


def _attachment_data(chars: int) -> str:
    """Return ``chars`` characters of base64 (rounded down to whole quanta) of a repeating byte pattern."""
    raw_length = chars // 4 * 3
    pattern = bytes(range(256))
    raw = pattern * (raw_length // len(pattern)) + pattern[:raw_length % len(pattern)]
    return base64.b64encode(raw).decode("ascii")


def _patient(suffix: str, **extra: object) -> str:
    return dumps_json({"resourceType": "Patient", "id": f"{_PREFIX}-{suffix}", "gender": "female",
                       "birthDate": "1970-01-01", **extra})


def bad_records(attachment_chars: int = 1024,
                string_limit: int = JSON_STRING_LIMIT) -> list[tuple[str, QuarantineReason | None, str, QuarantineReason | None]]:
    """Return the file's lines (without line feeds) with reason, note and ``--validate`` QuarantineReason.

    Parameters
    ----------
    attachment_chars
        Length of the base64 ``DocumentReference.content.attachment.data`` value.
    string_limit
        The JSON reader's longest string; the attachment's record is expected as
        ``value_too_large`` only when ``attachment_chars`` exceeds it.

    Returns
    -------
    list[tuple[str, QuarantineReason | None, str, QuarantineReason | None]]
        ``(text, reason, note, validate_reason)`` per line; blank lines have reason ``None``.

    Raises
    ------
    ValueError
        If ``attachment_chars`` is below 4.
    """
    if attachment_chars < 4:
        raise ValueError(f"'attachment_chars' must be 4 or more, not {attachment_chars}")
    data = _attachment_data(attachment_chars)
    large = QuarantineReason.VALUE_TOO_LARGE if len(data) > string_limit else None
    document = dumps_json({
        "resourceType": "DocumentReference", "id": f"{_PREFIX}-large-attachment", "status": "current",
        "subject": {"reference": f"Patient/{_PREFIX}-valid"},
        "content": [{"attachment": {"contentType": "application/pdf", "data": data}}],
    })
    observation = {"resourceType": "Observation", "id": f"{_PREFIX}-unknown-nested", "status": "final",
                   "code": {"text": "Body weight"},
                   "valueQuantity": {"value": exact_decimal("70.50"), "unit": "kg", "precision": 2}}
    return [
        (_patient("valid"), None, "A valid Patient", None),
        ('{"resourceType":"Patient","id":"bad-records-truncated","name":[{"fam', QuarantineReason.INVALID_JSON,
         "A line cut in the middle of a JSON object", None),
        ('{"level":"error","message":"Unable to export Observation","time":"2025-01-01T00:00:00Z"}',
         QuarantineReason.NOT_A_RESOURCE, "A bulk-export log line: a JSON object without resourceType", None),
        (f'[{_patient("in-array")}]', QuarantineReason.NOT_A_RESOURCE,
         "A JSON array holding a resource (Spark's JSON reader would make it a row)", None),
        ('"a JSON string, not an object"', QuarantineReason.NOT_A_RESOURCE, "A JSON scalar", None),
        ("", None, "Blank line", None),
        (dumps_json({"resourceType": "Patientt", "id": f"{_PREFIX}-unknown-type"}), QuarantineReason.UNKNOWN_RESOURCE_TYPE,
         "resourceType 'Patientt' is not a FHIR R4 resource type", None),
        (dumps_json({"resourceType": "Patient", "gender": "male", "birthDate": "1980-02-02"}), QuarantineReason.MISSING_ID,
         "A Patient without id", None),
        (_patient("unknown-element", favouriteColour="blue"), QuarantineReason.SCHEMA_ROUNDTRIP_MISMATCH,
         "Patient.favouriteColour is not a FHIR element", QuarantineReason.VALIDATION_FAILED),
        (dumps_json(observation), QuarantineReason.SCHEMA_ROUNDTRIP_MISMATCH,
         "Observation.valueQuantity.precision is not a FHIR element", QuarantineReason.VALIDATION_FAILED),
        (dumps_json({"resourceType": "Patient", "id": f"{_PREFIX}-wrong-type", "birthDate": 19700101}),
         QuarantineReason.SCHEMA_ROUNDTRIP_MISMATCH, "Patient.birthDate is a JSON number, not a string", QuarantineReason.VALIDATION_FAILED),
        ("   ", None, "Whitespace-only line", None),
        (document, large, f"DocumentReference.content.attachment.data holds {len(data)} base64 characters "
         f"(value_too_large when above {string_limit})", None),
        (dumps_json({"resourceType": "Observation", "id": f"{_PREFIX}-no-code", "status": "final",
                     "subject": {"reference": f"Patient/{_PREFIX}-valid"}}),
         None, "An Observation without its required code: fits the schema, fails fhir.resources",
         QuarantineReason.VALIDATION_FAILED),
        (_patient("last-line-without-newline"), None, "A valid Patient on a last line without a line feed", None),
    ]


def write_bad_records(path: Path, attachment_chars: int = 1024,
                      string_limit: int = JSON_STRING_LIMIT) -> list[ExpectedRecord]:
    """Write the bad-records NDJSON file and return where each line must end.

    Parameters
    ----------
    path
        The ``.ndjson`` file to write; its directory is created if missing.
    attachment_chars
        Length of the large base64 attachment (see :func:`bad_records`).
    string_limit
        The JSON reader's longest string (see :func:`bad_records`).

    Returns
    -------
    list[ExpectedRecord]
        One entry per line, in order.

    Examples
    --------
    >>> import tempfile
    >>> expected = write_bad_records(Path(tempfile.mkdtemp()) / "bad.ndjson")
    >>> [e.reason.value for e in expected if e.reason][:2]
    ['invalid_json', 'not_a_resource']
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = bad_records(attachment_chars, string_limit)
    expected = []
    offset = 0
    with path.open("wb") as handle:
        for number, (text, reason, note, validate_reason) in enumerate(lines, start=1):
            encoded = text.encode("utf-8") + (b"\n" if number < len(lines) else b"")
            handle.write(encoded)
            expected.append(ExpectedRecord(number, offset, reason, note, validate_reason,
                                           blank=not text.strip()))
            offset += len(encoded)
    return expected
