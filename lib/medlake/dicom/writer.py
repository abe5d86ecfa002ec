"""HTJ2K DICOM files: the original dataset with its pixel data replaced by encapsulated HTJ2K frames.

Only what the new encoding requires changes: *Pixel Data* (encapsulated, with a basic or an
extended offset table), the Transfer Syntax UID in the file meta, *Photometric Interpretation*
when the codestream holds a different colour space (``YBR_RCT`` for RGB coded with the reversible
colour transform, ``YBR_FULL`` for ``YBR_FULL_422`` whose subsampling pydicom removed) and
*Planar Configuration*, which PS3.5 Table 8.2.4-1 fixes to 0 for JPEG 2000. The output is always
explicit VR little endian, as every encapsulated transfer syntax is; from a big endian source the
values of OW, OL, OF, OD and OV elements (overlays, LUT data) are byte-swapped, which pydicom
leaves to the caller. Group length elements (gggg,0000), retired and no longer correct once the
pixel data changes, are not written (pydicom drops them).

Output paths are built only from UIDs that consist of digits and dots, and are checked to
resolve inside the output directory.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from enum import StrEnum
from io import BytesIO
from pathlib import Path

import numpy as np
from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, encapsulate_extended
from pydicom.uid import UID, HTJ2K, HTJ2KLossless, HTJ2KLosslessRPCL

__all__ = [
    "OffsetTable",
    "UID_PATTERN",
    "write_htj2k_dicom",
    "htj2k_output_path",
    "save_htj2k_dicom",
]

#: What a UID may look like to become part of a path: digits and dots, at most 64 characters.
UID_PATTERN = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_MAX_UID_LENGTH = 64
_HTJ2K_SYNTAXES = frozenset({HTJ2KLossless, HTJ2KLosslessRPCL, HTJ2K})
#: Largest byte offset a basic offset table (32-bit) can hold.
_MAX_BASIC_OFFSET = 2**32 - 1
#: Bytes per value of the VRs whose bytes pydicom does not swap when a big endian dataset is
#: written little endian (see ``pydicom.filewriter.dcmwrite``).
_SWAPPED_VR_SIZES = {"OW": 2, "OL": 4, "OF": 4, "OD": 8, "OV": 8}


class OffsetTable(StrEnum):
    """Which offset table locates the frames in encapsulated pixel data."""

    BASIC = "basic"
    EXTENDED = "extended"


def write_htj2k_dicom(
    data: bytes,
    frames: Sequence[bytes],
    transfer_syntax: str,
    photometric_interpretation: str,
    offset_table: OffsetTable | str = OffsetTable.BASIC,
) -> bytes:
    """Return the DICOM file ``data`` with its pixel data replaced by HTJ2K ``frames``.

    Parameters
    ----------
    data
        The original DICOM Part 10 file.
    frames
        One HTJ2K codestream per frame, in frame order.
    transfer_syntax
        The HTJ2K Transfer Syntax UID the frames qualify for (the weakest label of all frames).
    photometric_interpretation
        The Photometric Interpretation of the codestreams' samples.
    offset_table
        ``basic`` (32-bit offsets, up to 4 GiB of frames) or ``extended`` (Extended Offset Table).

    Returns
    -------
    bytes
        The new file, explicit VR little endian.

    Raises
    ------
    ValueError
        If the transfer syntax is not HTJ2K, the number of frames does not match (0028,0008)
        'Number of Frames', the frames are too large for a basic offset table, or a big endian
        source holds an element of VR UN (whose byte order cannot be converted).

    Examples
    --------
    >>> from pydicom import dcmread
    >>> from pydicom.data import get_testdata_file
    >>> from medlake.dicom.frames.transcode import transcode_frames
    >>> with open(get_testdata_file("SC_rgb_rle_2frame.dcm", download=False), "rb") as f:
    ...     original = f.read()
    >>> result = transcode_frames(original)
    >>> out = write_htj2k_dicom(original, [f.data for f in result.frames],
    ...                         result.frames[0].transfer_syntax, "YBR_RCT")
    >>> ds = dcmread(BytesIO(out))
    >>> ds.file_meta.TransferSyntaxUID.name, ds.PhotometricInterpretation
    ('High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)', 'YBR_RCT')
    """
    if transfer_syntax not in _HTJ2K_SYNTAXES:
        raise ValueError(f"'transfer_syntax' must be an HTJ2K transfer syntax, not '{transfer_syntax}'")
    table = OffsetTable(offset_table)
    ds = dcmread(BytesIO(data))
    expected = int(ds.get("NumberOfFrames") or 1)
    if len(frames) != expected:
        raise ValueError(
            f"Unable to write the HTJ2K file as {len(frames)} frames were given for "
            f"(0028,0008) 'Number of Frames' {expected}"
        )
    if ds.original_encoding[1] is False:
        _swap_to_little_endian(ds)  # before the new (little endian) offset tables are added
    for keyword in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
        if keyword in ds:
            del ds[keyword]
    if table is OffsetTable.EXTENDED:
        ds.PixelData, offsets, lengths = encapsulate_extended(list(frames))
        ds.ExtendedOffsetTable = offsets
        ds.ExtendedOffsetTableLengths = lengths
    else:
        # Each frame adds an 8-byte item header; the last frame's offset must fit 32 bits.
        last_offset = sum(len(f) + (len(f) % 2) + 8 for f in frames[:-1])
        if last_offset > _MAX_BASIC_OFFSET:
            raise ValueError(
                "Unable to write the HTJ2K file as the frames are too large for a basic offset "
                "table; use offset_table='extended'"
            )
        ds.PixelData = encapsulate(list(frames), has_bot=True)
    element = ds["PixelData"]
    element.VR = "OB"
    element.is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = UID(transfer_syntax)
    ds.PhotometricInterpretation = photometric_interpretation
    if int(ds.get("SamplesPerPixel", 1)) > 1:
        ds.PlanarConfiguration = 0
    buffer = BytesIO()
    dcmwrite(buffer, ds, implicit_vr=False, little_endian=True, enforce_file_format=True)
    return buffer.getvalue()


def _swap_to_little_endian(ds: Dataset) -> None:
    """Byte-swap, in place, the binary values pydicom would write unchanged from a big endian source."""
    for element in ds.iterall():
        if element.tag == 0x7FE00010 or element.value in (None, b""):
            continue
        if element.VR == "UN":
            raise ValueError(
                f"Unable to write the HTJ2K file as the big endian source has an element of unknown "
                f"VR ({element.tag}) whose byte order cannot be converted"
            )
        size = _SWAPPED_VR_SIZES.get(element.VR)
        if size:
            element.value = np.frombuffer(element.value, dtype=f">u{size}").astype(f"<u{size}").tobytes()


def _checked_uid(name: str, value: str) -> str:
    if len(value) > _MAX_UID_LENGTH or UID_PATTERN.fullmatch(value) is None:
        # The value is not quoted: a malformed UID field could hold anything.
        raise ValueError(f"'{name}' must be at most 64 digits and dots to be used in a path")
    return value


def htj2k_output_path(
    output_dir: str | os.PathLike[str], study_uid: str, series_uid: str, sop_instance_uid: str
) -> Path:
    """Return ``output_dir/<study>/<series>/<sop>.dcm``, guaranteed to lie inside ``output_dir``.

    Parameters
    ----------
    output_dir
        The directory given with ``--output-dicom``.
    study_uid, series_uid, sop_instance_uid
        The instance's UIDs; each must be digits and dots only.

    Returns
    -------
    pathlib.Path
        The resolved path.

    Raises
    ------
    ValueError
        If a UID is not digits and dots, or the path would leave ``output_dir``.

    Examples
    --------
    >>> htj2k_output_path("/out", "1.2", "1.2.3", "1.2.3.4").as_posix()
    '/out/1.2/1.2.3/1.2.3.4.dcm'
    >>> htj2k_output_path("/out", "1.2", "../..", "1")
    Traceback (most recent call last):
    ...
    ValueError: 'series_uid' must be at most 64 digits and dots to be used in a path
    """
    root = Path(output_dir).resolve()
    path = (
        root
        / _checked_uid("study_uid", study_uid)
        / _checked_uid("series_uid", series_uid)
        / f"{_checked_uid('sop_instance_uid', sop_instance_uid)}.dcm"
    ).resolve()
    if not path.is_relative_to(root):
        raise ValueError("Unable to build the output path as it would leave the output directory")
    return path


def save_htj2k_dicom(
    output_dir: str | os.PathLike[str], study_uid: str, series_uid: str, sop_instance_uid: str, content: bytes
) -> Path:
    """Write ``content`` to :func:`htj2k_output_path` atomically (temporary file, then rename).

    Returns
    -------
    pathlib.Path
        Where the file was written.

    Raises
    ------
    ValueError
        If the UIDs do not make a safe path (see :func:`htj2k_output_path`).
    OSError
        If the file cannot be written.
    """
    path = htj2k_output_path(output_dir, study_uid, series_uid, sop_instance_uid)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as tmp:
        tmp.write(content)
    os.replace(tmp.name, path)
    return path
