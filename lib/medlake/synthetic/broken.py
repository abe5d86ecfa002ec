"""A catalogue of broken and special DICOM files, each with the outcome an ingest must give it.

Every file derives from one small valid CT instance of a catalogue-only patient (not on the
roster), so the files never collide with the roster's studies. Names sort so that every kept
original comes before its duplicates (``00-original.dcm`` before ``01-...`` and ``02-...``).

Notes on pydicom 3.0 (why each category needs care in an ingest):

- ``force=True`` reads any bytes, even text, as a data set: ``not_dicom`` must be decided before.
- A file cut in the pixel data parses without error under ``stop_before_pixels`` or deferred
  reading; only comparing (7FE0,0010)'s length with the file's size finds ``truncated-pixels.dcm``.
- Values are converted lazily: the unknown VR and the odd-length US value raise only when the
  element's value is accessed.
- A deflate error raises ``zlib.error`` while reading the data set, after the file meta.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from enum import StrEnum
from io import BytesIO
from pathlib import Path, PurePosixPath

import pydicom
from pydicom.dataset import Dataset
from pydicom.fileset import FileSet
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from medlake.quarantine import QuarantineReason
from medlake.synthetic.dicom import ImageSize, patient_datasets
from medlake.synthetic.roster import derive_uid, roster_patient

__all__ = ["ExpectedOutcome", "ExpectedFile", "broken_files", "write_broken_dicom"]

_PREAMBLE_AND_PREFIX = 132
_CATALOGUE_PATIENT_INDEX = 2  # a roster slot with a CT study, re-identified below


class ExpectedOutcome(StrEnum):
    """The one outcome an ingest gives a file (``ops.files``)."""

    LOADED = "loaded"
    DUPLICATE = "duplicate"
    DICOMDIR = "dicomdir"
    QUARANTINED = "quarantined"


@dataclass(frozen=True)
class ExpectedFile:
    """A catalogue file (path relative to the catalogue's directory) and what ingest must do with it."""

    path: PurePosixPath
    outcome: ExpectedOutcome
    reason: QuarantineReason | None = None
    twin: PurePosixPath | None = None
    note: str = ""


def _catalogue_instance(seed: int, size: ImageSize) -> Dataset:
    """Return a valid CT instance whose patient and UIDs belong to the catalogue alone."""
    patient = roster_patient(_CATALOGUE_PATIENT_INDEX, seed + 1_000_003)
    _, ds = next(patient_datasets(patient, seed, size))
    ds.PatientName = "Catalogue^Broken"
    ds.PatientID = "BROKEN-CATALOGUE"
    del ds.SpecificCharacterSet
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def _encode(ds: Dataset, transfer_syntax: UID = ExplicitVRLittleEndian) -> bytes:
    ds = copy.deepcopy(ds)
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    buffer = BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def _splice(data: bytes, old: bytes, new: bytes) -> bytes:
    """Replace the one occurrence of an element's bytes ``old`` with ``new``."""
    if data.count(old) != 1:
        raise ValueError(f"Unable to patch the catalogue file as the bytes occur {data.count(old)} times")
    return data.replace(old, new)


def _without(ds: Dataset, keyword: str) -> Dataset:
    """Return a copy of ``ds`` without ``keyword``; its file meta keeps the Media Storage UIDs."""
    ds = copy.deepcopy(ds)
    delattr(ds, keyword)
    return ds


def _pixel_data_offset(data: bytes) -> int:
    return data.rindex(b"\xe0\x7f\x10\x00")


def broken_files(seed: int = 0, size: ImageSize = ImageSize(16, 16)) -> dict[PurePosixPath, tuple[bytes, ExpectedFile]]:
    """Return every catalogue file except the DICOMDIR set, with its bytes and its expected outcome.

    Parameters
    ----------
    seed
        Varies the UIDs and pixel noise.
    size
        Rows and columns of the instance every file derives from.

    Returns
    -------
    dict[PurePosixPath, tuple[bytes, ExpectedFile]]
        Keyed by relative path.

    Examples
    --------
    >>> files = broken_files()
    >>> files[PurePosixPath("deflate-error.dcm")][1].reason.value
    'deflate_error'
    """
    base = _catalogue_instance(seed, size)
    original = _encode(base)
    rows = b"\x28\x00\x10\x00US\x02\x00" + size.rows.to_bytes(2, "little")
    description = b"\x08\x00\x30\x10LO"
    sex = b"\x10\x00\x40\x00CS\x02\x00" + base.PatientSex.encode() + b" "
    deflated = _encode(base, DeflatedExplicitVRLittleEndian)
    meta_end = _PREAMBLE_AND_PREFIX + 12 + int.from_bytes(deflated[_PREAMBLE_AND_PREFIX + 8:_PREAMBLE_AND_PREFIX + 12],
                                                          "little")
    transfer_syntax = b"\x02\x00\x10\x00UI"
    ts_at = original.index(transfer_syntax)
    ts_length = int.from_bytes(original[ts_at + 6:ts_at + 8], "little")
    no_transfer_syntax = original[:ts_at] + original[ts_at + 8 + ts_length:]
    bad_meta_vr = original[:ts_at + 4] + b"\x00\x00" + original[ts_at + 6:]
    table: list[tuple[str, bytes, ExpectedOutcome, QuarantineReason | None, str]] = [
        ("00-original.dcm", original, ExpectedOutcome.LOADED, None, "The valid instance every file derives from"),
        ("01-duplicate-identical.dcm", original, ExpectedOutcome.DUPLICATE, None,
         "Byte-identical copy of 00-original.dcm"),
        ("02-duplicate-implicit-vr.dcm", _encode(base, ImplicitVRLittleEndian), ExpectedOutcome.DUPLICATE, None,
         "The same SOP instance re-encoded in Implicit VR Little Endian"),
        ("not-dicom.dcm", b"This file is plain text, not DICOM.\n", ExpectedOutcome.QUARANTINED,
         QuarantineReason.NOT_DICOM, "Text with a .dcm name"),
        ("empty.dcm", b"", ExpectedOutcome.QUARANTINED, QuarantineReason.NOT_DICOM, "A file of 0 bytes"),
        ("truncated-header.dcm", original[:original.index(sex) + 4], ExpectedOutcome.QUARANTINED,
         QuarantineReason.TRUNCATED, "Cut after the tag of (0010,0040) 'Patient's Sex', inside its element header"),
        ("truncated-in-value.dcm", original[:original.index(description) + 8 + len(base.StudyDescription) // 2],
         ExpectedOutcome.QUARANTINED, QuarantineReason.TRUNCATED,
         "Cut halfway through the value of (0008,1030) 'Study Description'"),
        ("truncated-pixels.dcm", original[:_pixel_data_offset(original) + 12 + size.rows * size.columns],
         ExpectedOutcome.QUARANTINED, QuarantineReason.TRUNCATED, "Cut halfway through (7FE0,0010) 'Pixel Data'"),
        ("bad-vr.dcm", _splice(original, sex, sex[:4] + b"ZZ" + sex[6:]), ExpectedOutcome.QUARANTINED,
         QuarantineReason.BAD_VR_OR_LENGTH, "(0010,0040) 'Patient's Sex' has the unknown VR 'ZZ'"),
        ("bad-length.dcm", _splice(original, rows, rows[:6] + b"\x03\x00" + rows[8:] + b"\x00"),
         ExpectedOutcome.QUARANTINED, QuarantineReason.BAD_VR_OR_LENGTH,
         "(0028,0010) 'Rows' (US) has a value length of 3, not a multiple of 2"),
        ("missing-sop-instance-uid.dcm", _encode(_without(base, "SOPInstanceUID")), ExpectedOutcome.QUARANTINED,
         QuarantineReason.MISSING_SOP_INSTANCE_UID, "No (0008,0018) in the data set (the file meta still has one)"),
        ("missing-study-instance-uid.dcm", _encode(_without(base, "StudyInstanceUID")),
         ExpectedOutcome.QUARANTINED, QuarantineReason.MISSING_STUDY_INSTANCE_UID, "No (0020,000D) 'Study Instance UID'"),
        ("unreadable-file-meta-no-transfer-syntax.dcm", no_transfer_syntax, ExpectedOutcome.QUARANTINED,
         QuarantineReason.UNREADABLE_FILE_META, "The file meta has no (0002,0010) 'Transfer Syntax UID'"),
        ("unreadable-file-meta-bad-vr.dcm", bad_meta_vr, ExpectedOutcome.QUARANTINED,
         QuarantineReason.UNREADABLE_FILE_META, "(0002,0010) in the file meta has the VR bytes 00 00"),
        ("deflate-error.dcm", deflated[:meta_end] + b"\xff" * 8 + deflated[meta_end + 8:],
         ExpectedOutcome.QUARANTINED, QuarantineReason.DEFLATE_ERROR,
         "Deflated Explicit VR Little Endian whose deflate stream starts with an invalid block type"),
    ]
    twin = PurePosixPath("00-original.dcm")
    files = {}
    for name, data, outcome, reason, note in table:
        path = PurePosixPath(name)
        files[path] = (data, ExpectedFile(path, outcome, reason, twin if outcome is ExpectedOutcome.DUPLICATE
                                          else None, note))
    return files


def _write_dicomdir(directory: Path, seed: int, size: ImageSize) -> list[ExpectedFile]:
    """Write a File-set (DICOMDIR and its one instance) under ``directory / "dicomdir"``."""
    ds = _catalogue_instance(seed, size)
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        setattr(ds, keyword, derive_uid(seed, "catalogue", keyword))
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    fileset = FileSet()
    fileset.ID = "MEDLAKE"
    fileset.UID = pydicom.uid.UID(derive_uid(seed, "catalogue", "file-set"))
    fileset.add(ds)
    root = directory / "dicomdir"
    fileset.write(root)
    (instance,) = fileset
    relative = PurePosixPath("dicomdir", *Path(instance.path).relative_to(root.resolve()).parts)
    return [ExpectedFile(PurePosixPath("dicomdir/DICOMDIR"), ExpectedOutcome.DICOMDIR,
                         note="A File-set index written by pydicom's FileSet"),
            ExpectedFile(relative, ExpectedOutcome.LOADED, note="The instance the DICOMDIR references")]


def write_broken_dicom(directory: Path, seed: int = 0, size: ImageSize = ImageSize(16, 16)) -> list[ExpectedFile]:
    """Write the whole catalogue under ``directory`` and return each file's expected outcome.

    Parameters
    ----------
    directory
        Created if missing. Files: those of :func:`broken_files` and ``dicomdir/DICOMDIR`` with
        the instance it references.
    seed
        Varies the UIDs and pixel noise.
    size
        Rows and columns of the instance every file derives from.

    Returns
    -------
    list[ExpectedFile]
        Sorted by path.
    """
    directory.mkdir(parents=True, exist_ok=True)
    expected = []
    for path, (data, entry) in broken_files(seed, size).items():
        directory.joinpath(*path.parts).write_bytes(data)
        expected.append(entry)
    expected.extend(_write_dicomdir(directory, seed, size))
    return sorted(expected, key=lambda e: e.path)

