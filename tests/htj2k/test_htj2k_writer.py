"""HTJ2K DICOM files: pydicom reads them back to the original pixels; paths cannot escape."""

from __future__ import annotations

import os
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.encaps import generate_frames
from pydicom.uid import ExplicitVRLittleEndian, HTJ2KLosslessRPCL

from htj2k_testdata import read_test_file
from medlake.dicom.frames.htj2k import Verification, decode_htj2k_frame
from medlake.dicom.frames.transcode import FrameStatus, transcode_frames
from medlake.dicom.writer import OffsetTable, htj2k_output_path, save_htj2k_dicom, write_htj2k_dicom
from test_pydicom_outcomes import OUTCOMES

TRANSCODED = [row[0] for row in OUTCOMES if row[1] is FrameStatus.TRANSCODED]
CHANGED = {"PixelData", "PhotometricInterpretation", "PlanarConfiguration"}
BINARY_VRS = {"OB", "OW", "OF", "OD", "OL", "OV", "UN"}


def _write(name: str, offset_table: OffsetTable = OffsetTable.BASIC) -> tuple[bytes, bytes, Verification]:
    original = read_test_file(name)
    result = transcode_frames(original)
    frames = [f.data for f in result.frames if f.data is not None]
    first = result.frames[0]
    assert first.transfer_syntax is not None and first.photometric_interpretation is not None
    assert first.verification is not None
    out = write_htj2k_dicom(original, frames, first.transfer_syntax, first.photometric_interpretation, offset_table)
    return original, out, first.verification


@pytest.mark.parametrize("offset_table", list(OffsetTable))
@pytest.mark.parametrize("name", TRANSCODED)
def test_output_reads_back_to_the_original_pixels(name: str, offset_table: OffsetTable) -> None:
    original, out, verification = _write(name, offset_table)
    src, ds = dcmread(BytesIO(original)), dcmread(BytesIO(out))
    assert ds.file_meta.TransferSyntaxUID == HTJ2KLosslessRPCL
    assert ("ExtendedOffsetTable" in ds) is (offset_table is OffsetTable.EXTENDED)
    if verification is Verification.OPENJPEG:
        np.testing.assert_array_equal(ds.pixel_array, src.pixel_array)
    else:
        # OpenJPEG, hence pydicom's pylibjpeg plugin, cannot read OpenJPH's 32-bit codestreams.
        count = int(src.get("NumberOfFrames") or 1)
        decoded = [
            decode_htj2k_frame(f, ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.BitsStored, ds.PixelRepresentation == 1,
                         bits_allocated=ds.BitsAllocated)
            for f in generate_frames(ds.PixelData, number_of_frames=count)
        ]
        np.testing.assert_array_equal(np.stack(decoded) if count > 1 else decoded[0], src.pixel_array)


@pytest.mark.parametrize("name", TRANSCODED)
def test_everything_else_is_unchanged(name: str) -> None:
    original, out, _ = _write(name)
    src, ds = dcmread(BytesIO(original)), dcmread(BytesIO(out))
    big_endian = src.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.2"
    kept = [e for e in src if e.keyword not in CHANGED and e.tag.element != 0]  # group lengths are retired
    assert {e.tag for e in kept} == {e.tag for e in ds if e.keyword not in CHANGED}
    for element in kept:
        if big_endian and element.VR in BINARY_VRS:
            continue
        assert ds[element.tag].value == element.value, element.keyword
    if int(src.SamplesPerPixel) > 1:
        assert ds.PlanarConfiguration == 0


def _big_endian_with(tag: int, vr: str, value: bytes) -> bytes:
    """MR_small_bigendian with one more element (pydicom's big endian files have no OW data)."""
    ds = dcmread(BytesIO(read_test_file("MR_small_bigendian.dcm")))
    ds.add_new(tag, vr, value)
    out = BytesIO()
    ds.save_as(out)
    return out.getvalue()


def test_big_endian_binary_values_are_swapped() -> None:
    words = np.arange(1, 9, dtype=">u2")
    source = _big_endian_with(0x60003000, "OW", words.tobytes())  # Overlay Data
    result = transcode_frames(source)
    out = write_htj2k_dicom(source, [result.frames[0].data or b""], HTJ2KLosslessRPCL, "MONOCHROME2")
    np.testing.assert_array_equal(np.frombuffer(dcmread(BytesIO(out))[0x60003000].value, "<u2"), words)


def test_big_endian_unknown_vr_is_refused() -> None:
    source = _big_endian_with(0x00091001, "UN", b"\x00\x01")
    with pytest.raises(ValueError, match="unknown VR"):
        write_htj2k_dicom(source, [b""], HTJ2KLosslessRPCL, "MONOCHROME2")


def test_frame_count_must_match() -> None:
    with pytest.raises(ValueError, match="1 frames were given"):
        write_htj2k_dicom(read_test_file("rtdose.dcm"), [b"\xff\x4f"], HTJ2KLosslessRPCL, "MONOCHROME2")


def test_transfer_syntax_must_be_htj2k() -> None:
    with pytest.raises(ValueError, match="must be an HTJ2K transfer syntax"):
        write_htj2k_dicom(read_test_file("MR_small.dcm"), [b""], ExplicitVRLittleEndian, "MONOCHROME2")


@pytest.mark.parametrize(
    "study, series, sop",
    [
        ("../..", "1", "1"),
        ("1", "/etc", "1"),
        ("1", "1", "1.2/../../x"),
        ("1", "1", ""),
        ("1", "1", "1."),
        ("1", "1", "1" * 65),
        ("1", "1", "1.2\x00"),
        ("1", "1", "１.２"),  # full-width digits are not ASCII digits
    ],
)
def test_unsafe_uids_are_rejected(tmp_path: Path, study: str, series: str, sop: str) -> None:
    with pytest.raises(ValueError, match="must be at most 64 digits and dots"):
        htj2k_output_path(tmp_path, study, series, sop)


def test_path_through_a_symlink_out_of_the_directory_is_rejected(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "out"
    root.mkdir()
    os.symlink(outside, root / "1.2")
    with pytest.raises(ValueError, match="leave the output directory"):
        htj2k_output_path(root, "1.2", "3", "4")


def test_save_writes_inside_the_directory(tmp_path: Path) -> None:
    path = save_htj2k_dicom(tmp_path, "1.2", "1.2.3", "1.2.3.4", b"DICM")
    assert path == (tmp_path / "1.2" / "1.2.3" / "1.2.3.4.dcm").resolve()
    assert path.read_bytes() == b"DICM"
    assert [p.name for p in path.parent.iterdir()] == ["1.2.3.4.dcm"]
