"""What a file is (an instance, a DICOMDIR, or quarantined) and why, in stable categories."""

from __future__ import annotations

import struct
import zlib
from enum import StrEnum

from pydicom.errors import BytesLengthException, InvalidDicomError

from medlake.quarantine import QuarantineReason

__all__ = [
    "INVALID_UID",
    "MISSING_SOP_CLASS_UID",
    "UNREADABLE_DATASET",
    "FileOutcome",
    "Rejection",
    "has_part10_prefix",
    "looks_like_raw_dataset",
    "rejection_for",
]

# Aliases kept for medlake.dicom.header, which imports them from here.
MISSING_SOP_CLASS_UID = QuarantineReason.MISSING_SOP_CLASS_UID
INVALID_UID = QuarantineReason.INVALID_UID
UNREADABLE_DATASET = QuarantineReason.UNREADABLE_DATASET

_PREAMBLE_LENGTH = 128
_PREFIX = b"DICM"
# Groups a dataset without preamble may start with: File Meta (0002) or Identifying (0008).
_FIRST_GROUPS = frozenset({0x0002, 0x0008})


class FileOutcome(StrEnum):
    """The one outcome of reading a file's header."""

    LOADED = "loaded"
    DICOMDIR = "dicomdir"
    QUARANTINED = "quarantined"


class Rejection(Exception):
    """A file that cannot be loaded: a stable reason and a message without patient data."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def has_part10_prefix(data: bytes) -> bool:
    """Return whether ``data`` has the 128-byte preamble followed by ``DICM`` (PS3.10 7.1).

    Examples
    --------
    >>> has_part10_prefix(bytes(128) + b"DICM")
    True
    >>> has_part10_prefix(b"DICM")
    False
    """
    return data[_PREAMBLE_LENGTH:_PREAMBLE_LENGTH + len(_PREFIX)] == _PREFIX


def looks_like_raw_dataset(data: bytes) -> bool:
    """Return whether ``data`` without a Part 10 prefix starts like a dataset (group 0002 or 0008).

    pydicom's ``force=True`` reads any bytes as a dataset; medlake only forces reading when the first
    tag, in either byte order, is in a group a dataset starts with.

    Examples
    --------
    >>> looks_like_raw_dataset(bytes.fromhex("0800050043530a00") + b"ISO_IR 100")
    True
    >>> looks_like_raw_dataset(b"hello world")
    False
    """
    if len(data) < 8:
        return False
    return any(struct.unpack(f"{order}H", data[:2])[0] in _FIRST_GROUPS for order in "<>")


def rejection_for(error: Exception, doing: str) -> Rejection:
    """Return the rejection for an exception raised by pydicom, without quoting the file's content.

    Parameters
    ----------
    error
        What pydicom raised.
    doing
        What was being done, completing "Unable to ...", such as ``"parse the data set"``.

    Returns
    -------
    Rejection
        The reason category and a message naming only the kind of failure.

    Examples
    --------
    >>> str(rejection_for(EOFError(), "parse the data set").reason)
    'truncated'
    """
    kind = type(error).__name__
    if isinstance(error, Rejection):
        return error
    if isinstance(error, zlib.error):
        return Rejection(QuarantineReason.DEFLATE_ERROR,
                         f"Unable to {doing} as the deflated data set cannot be inflated ({kind})")
    if isinstance(error, EOFError | OSError):
        return Rejection(QuarantineReason.TRUNCATED, f"Unable to {doing} as the file ends early ({kind})")
    if isinstance(error, UnicodeError):
        return Rejection(QuarantineReason.CHARSET_DECODE_FAILED,
                         f"Unable to {doing} as text cannot be decoded by its character set ({kind})")
    if isinstance(error, InvalidDicomError):
        return Rejection(QuarantineReason.NOT_DICOM, f"Unable to {doing} as the file is not DICOM")
    if isinstance(error, NotImplementedError | BytesLengthException | struct.error | ValueError):
        return Rejection(QuarantineReason.BAD_VR_OR_LENGTH,
                         f"Unable to {doing} as an element has an invalid VR or length ({kind})")
    return Rejection(QuarantineReason.UNREADABLE_DATASET, f"Unable to {doing} as pydicom failed ({kind})")
