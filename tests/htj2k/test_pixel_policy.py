"""The transcoding policy, and the paths no bundled file takes: HTJ2K sources, video, float pixels."""

from __future__ import annotations

import zlib
from dataclasses import replace
from io import BytesIO

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.encaps import encapsulate
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEG2000MCLossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    HEVCMP51,
    MPEG2MPML,
    MPEG4HP41,
    RLELossless,
)

from htj2k_testdata import pydicom_frame, read_test_file
from medlake.dicom.frames.htj2k import Verification
from medlake.dicom.frames.transcode import FrameStatus, transcode_frames
from medlake.dicom.frames.source import PixelAction, PixelAttributes, PolicyDecision, decide_policy, open_pixel_source, iter_source_frames
from medlake.dicom.writer import write_htj2k_dicom

MONO = PixelAttributes("PixelData", 64, 64, 1, 16, 12, 0, "MONOCHROME2", 1, 0)

# transfer syntax, attribute changes, expected action, expected reason
POLICY = [
    (ImplicitVRLittleEndian, {}, "transcode", "lossless_source"),
    (ExplicitVRLittleEndian, {}, "transcode", "lossless_source"),
    (DeflatedExplicitVRLittleEndian, {}, "transcode", "lossless_source"),
    (ExplicitVRBigEndian, {}, "transcode", "lossless_source"),
    (RLELossless, {}, "transcode", "lossless_source"),
    (JPEGLossless, {}, "transcode", "lossless_source"),
    (JPEGLosslessSV1, {}, "transcode", "lossless_source"),
    (JPEGLSLossless, {}, "transcode", "lossless_source"),
    (JPEG2000Lossless, {}, "transcode", "lossless_source"),
    (HTJ2KLossless, {}, "transcode", "lossless_source"),
    (HTJ2KLosslessRPCL, {}, "transcode", "lossless_source"),
    (JPEGBaseline8Bit, {}, "keep_original", "lossy_jpeg"),
    (JPEGExtended12Bit, {}, "keep_original", "lossy_jpeg"),
    (JPEGLSNearLossless, {}, "keep_original", "lossy_jpeg_ls"),
    (JPEG2000, {}, "keep_original", "lossy_jpeg_2000"),
    (HTJ2K, {}, "keep_original", "lossy_htj2k"),
    (MPEG2MPML, {}, "pass_through", "video_transfer_syntax"),
    (MPEG4HP41, {}, "pass_through", "video_transfer_syntax"),
    (HEVCMP51, {}, "pass_through", "video_transfer_syntax"),
    (ExplicitVRLittleEndian, {"pixel_keyword": "FloatPixelData", "bits_allocated": 32}, "pass_through", "float_pixel_data"),
    (ExplicitVRLittleEndian, {"pixel_keyword": "DoubleFloatPixelData", "bits_allocated": 64}, "pass_through", "float_pixel_data"),
    (JPEG2000MCLossless, {}, "pass_through", "unsupported_transfer_syntax"),
    ("1.2.3.4.5", {}, "pass_through", "unsupported_transfer_syntax"),
    (ExplicitVRLittleEndian, {"samples_per_pixel": 4}, "pass_through", "unsupported_pixel_layout"),
    (ExplicitVRLittleEndian, {"bits_stored": 0}, "pass_through", "unsupported_pixel_layout"),
]


@pytest.mark.parametrize("syntax, changes, action, reason", POLICY)
def test_policy(syntax: str, changes: dict[str, object], action: str, reason: str) -> None:
    decision = decide_policy(syntax, replace(MONO, **changes))  # type: ignore[arg-type]
    assert (decision.action.value, decision.reason.value) == (action, reason)


def _relabelled(name: str, syntax: str) -> bytes:
    """Write ``name`` as HTJ2K (pydicom bundles no HTJ2K file) and label it ``syntax``."""
    original = read_test_file(name)
    result = transcode_frames(original)
    frames = [f.data for f in result.frames if f.data is not None]
    photometric = result.frames[0].photometric_interpretation
    assert photometric is not None
    ds = dcmread(BytesIO(write_htj2k_dicom(original, frames, HTJ2KLossless, photometric)))
    ds.file_meta.TransferSyntaxUID = syntax
    out = BytesIO()
    ds.save_as(out)
    return out.getvalue()


@pytest.mark.parametrize("name", ["CT_small.dcm", "SC_rgb_rle_2frame.dcm", "examples_overlay.dcm"])
@pytest.mark.parametrize("syntax", [HTJ2KLossless, HTJ2KLosslessRPCL])
def test_htj2k_lossless_sources_are_transcoded_again(name: str, syntax: str) -> None:
    data = _relabelled(name, syntax)
    result = transcode_frames(data)
    assert result.decision == PolicyDecision(PixelAction.TRANSCODE, "lossless_source")  # type: ignore[arg-type]
    original = read_test_file(name)
    for frame in result.frames:
        assert (frame.status, frame.verification, frame.transfer_syntax) == (
            FrameStatus.TRANSCODED, Verification.OPENJPEG, HTJ2KLosslessRPCL,
        )
        np.testing.assert_array_equal(pydicom_frame(data, frame.index), pydicom_frame(original, frame.index))


def test_htj2k_lossy_source_is_kept_with_checksum() -> None:
    data = _relabelled("CT_small.dcm", HTJ2K)
    result = transcode_frames(data)
    (frame,) = result.frames
    expected = pydicom_frame(read_test_file("CT_small.dcm"), 0)
    assert (frame.status, frame.reason, frame.transfer_syntax) == (FrameStatus.KEPT, "lossy_htj2k", HTJ2K)
    assert frame.crc32 == zlib.crc32(expected.astype("<i2").tobytes())


def _with(name: str, edit: "object") -> bytes:
    ds = dcmread(BytesIO(read_test_file(name)))
    edit(ds)  # type: ignore[operator]
    out = BytesIO()
    ds.save_as(out)
    return out.getvalue()


def test_video_passes_through_without_decoding() -> None:
    def to_video(ds: "object") -> None:
        ds.file_meta.TransferSyntaxUID = MPEG4HP41  # type: ignore[attr-defined]
        ds.PixelData = encapsulate([b"\x00\x00\x01\xb3 not a real stream"])  # type: ignore[attr-defined]

    result = transcode_frames(_with("MR_small.dcm", to_video))
    assert (result.decision.action, result.decision.reason, result.frames) == (  # type: ignore[union-attr]
        PixelAction.PASS_THROUGH, "video_transfer_syntax", (),
    )


def test_float_pixel_data_passes_through() -> None:
    def to_float(ds: "object") -> None:
        del ds.PixelData  # type: ignore[attr-defined]
        del ds.BitsStored, ds.HighBit, ds.PixelRepresentation  # type: ignore[attr-defined]
        ds.BitsAllocated = 32  # type: ignore[attr-defined]
        ds.FloatPixelData = np.linspace(0, 1, 64 * 64, dtype="<f4").tobytes()  # type: ignore[attr-defined]

    result = transcode_frames(_with("MR_small.dcm", to_float))
    assert (result.decision.action, result.decision.reason, result.frames) == (  # type: ignore[union-attr]
        PixelAction.PASS_THROUGH, "float_pixel_data", (),
    )


def test_only_requested_frames_are_processed() -> None:
    result = transcode_frames(read_test_file("rtdose.dcm"), [3, 14])
    assert [f.index for f in result.frames] == [3, 14]


def test_frame_index_out_of_range() -> None:
    source = open_pixel_source(read_test_file("MR_small.dcm"))
    with pytest.raises(ValueError, match=r"range\(1\)"):
        list(iter_source_frames(source, [1]))


def test_ybr_is_not_converted_to_rgb() -> None:
    data = read_test_file("SC_ybr_full_422_uncompressed.dcm")
    frame = next(iter_source_frames(open_pixel_source(data), [0]))
    rgb = dcmread(BytesIO(data)).pixel_array  # pydicom's default converts to RGB
    np.testing.assert_array_equal(frame, pydicom_frame(data, 0))
    assert not np.array_equal(frame, rgb)
