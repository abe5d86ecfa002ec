"""Hostile inputs for both ingests: legal but awkward names, broken archives, deep nesting, a cycle.

``write_hostile(DIR)`` writes ``DIR/fhir/`` and ``DIR/dicom/`` and returns, per file, the outcome
and reason an ingest must give it. Every awkward name holds a good record (a Patient, or a CT
instance with UIDs of its own), so a test sees both that the name loads and that nothing fails
beside it. Names cover what exports and copies produce on Linux: ``:`` (timestamps), ``%``, ``#``,
``?``, the glob characters ``* [ ] { }`` that Spark's readers would expand, spaces, a leading
``-``, non-ASCII in NFC and NFD (two different files), and a name of 255 bytes.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import unicodedata
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pydicom

from medlake.quarantine import QuarantineReason
from medlake.synthetic.dicom import ImageSize, patient_datasets
from medlake.synthetic.roster import derive_uid, roster_patient

__all__ = ["AWKWARD_NAMES", "HostileFile", "write_hostile"]

#: Legal file-name stems that must load like any other (each gets a suffix per format).
AWKWARD_NAMES = (
    "2025-01-01T10:00:00 colon",
    "pct 100%20",
    "hash#1",
    "question?",
    "glob c{t,x}[1]*",
    "-leading dash",
    "sub dir/space name",
    unicodedata.normalize("NFC", "é nfc twin"),
    unicodedata.normalize("NFD", "é nfc twin"),
)
_LONG_NAME_BYTES = 255
_NESTING = 5000
_BOMB_BYTES = 20 * 2**20


@dataclass(frozen=True)
class HostileFile:
    """A hostile input (path relative to its format's directory) and what an ingest must do with it."""

    path: str
    outcome: str
    reason: str | None = None


def _long_stem(suffix: str) -> str:
    return "n" * (_LONG_NAME_BYTES - len(suffix.encode()))


def _patient(index: int) -> str:
    return json.dumps({"resourceType": "Patient", "id": f"hostile-{index}", "gender": "unknown"})


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _cycle(directory: Path) -> HostileFile:
    (directory / "loop").symlink_to(".", target_is_directory=True)
    return HostileFile("loop", "quarantined", QuarantineReason.DIRECTORY_CYCLE.value)


def _unreadable(path: Path, data: bytes) -> HostileFile:
    """A file without read permission; root reads it anyway, so then it loads."""
    _write(path, data)
    path.chmod(0)
    readable = os.access(path, os.R_OK)
    return HostileFile(path.name, "loaded" if readable else "quarantined",
                       None if readable else QuarantineReason.UNREADABLE_FILE.value)


def _write_fhir(directory: Path) -> list[HostileFile]:
    expected = []
    stems = [*AWKWARD_NAMES, _long_stem(".ndjson")]
    for index, stem in enumerate(stems):
        _write(directory / f"{stem}.ndjson", (_patient(index) + "\n").encode())
        expected.append(HostileFile(f"{stem}.ndjson", "loaded"))
    whole = gzip.compress((_patient(100) + "\n").encode() * 50, mtime=0)
    _write(directory / "truncated.ndjson.gz", whole[: len(whole) // 2])
    _write(directory / "not-gzip.ndjson.gz", (_patient(101) + "\n").encode())
    _write(directory / "bomb.ndjson.gz", gzip.compress(b" " * _BOMB_BYTES, compresslevel=9, mtime=0))
    _write(directory / "deep.ndjson", f"{_patient(102)}\n{{\"resourceType\":\"Basic\",\"id\":\"d\",\"x\":{_deep(_NESTING)}}}\n".encode())
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": json.loads(_patient(103))}, {"resource": {"resourceType": "Basic", "id": "deep"}}]}
    text = json.dumps(bundle).replace('"id": "deep"}', f'"id": "deep", "x": {_deep(_NESTING)}}}')
    _write(directory / "deep-bundle.json", text.encode())
    expected += [
        HostileFile("truncated.ndjson.gz", "quarantined", QuarantineReason.TRUNCATED_ARCHIVE.value),
        HostileFile("not-gzip.ndjson.gz", "quarantined", QuarantineReason.CORRUPT_ARCHIVE.value),
        HostileFile("bomb.ndjson.gz", "quarantined", QuarantineReason.ARCHIVE_TOO_LARGE.value),
        HostileFile("deep.ndjson", "loaded", QuarantineReason.NESTING_TOO_DEEP.value),  # one line of two
        HostileFile("deep-bundle.json", "quarantined", QuarantineReason.NESTING_TOO_DEEP.value),
        _unreadable(directory / "locked.ndjson", (_patient(104) + "\n").encode()),
        _cycle(directory),
    ]
    return expected


def _instances(seed: int, count: int) -> list[bytes]:
    """Return ``count`` encodings of one small CT instance, each with UIDs of its own."""
    _, base = next(patient_datasets(roster_patient(2, seed + 2_000_003), seed, ImageSize(16, 16)))
    encoded = []
    for index in range(count):
        ds = copy.deepcopy(base)
        ds.StudyInstanceUID = derive_uid(seed, "hostile-study", index)
        ds.SeriesInstanceUID = derive_uid(seed, "hostile-series", index)
        ds.SOPInstanceUID = derive_uid(seed, "hostile-sop", index)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        buffer = BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
        encoded.append(buffer.getvalue())
    return encoded


def _write_dicom(directory: Path, seed: int) -> list[HostileFile]:
    stems = [*AWKWARD_NAMES, _long_stem(".dcm")]
    instances = _instances(seed, len(stems) + 1)
    expected = []
    for stem, data in zip(stems, instances):
        _write(directory / f"{stem}.dcm", data)
        expected.append(HostileFile(f"{stem}.dcm", "loaded"))
    return [*expected, _unreadable(directory / "locked.dcm", instances[-1]), _cycle(directory)]


def write_hostile(directory: Path, seed: int = 0) -> dict[str, list[HostileFile]]:
    """Write the hostile FHIR and DICOM inputs under ``directory``; return the expected outcomes.

    Examples
    --------
    >>> import tempfile
    >>> expected = write_hostile(Path(tempfile.mkdtemp()))
    >>> sorted({f.reason for f in expected["fhir"] if f.reason})[:3]
    ['archive_too_large', 'corrupt_archive', 'directory_cycle']
    """
    return {"fhir": _write_fhir(directory / "fhir"), "dicom": _write_dicom(directory / "dicom", seed)}
