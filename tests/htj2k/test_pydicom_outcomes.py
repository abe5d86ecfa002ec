"""Every pydicom bundled test file with pixel data ends transcoded, kept, passed through or failed.

The expected outcome of each file is written out below; pixels are compared with pydicom's own
decode of the source, codestreams are decoded by OpenJPEG (or OpenJPH where OpenJPEG cannot).
"""

from __future__ import annotations

import zlib
from io import BytesIO
from pathlib import Path

import imagecodecs
import numpy as np
import openjpeg
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.encaps import generate_frames
from pydicom.uid import HTJ2KLosslessRPCL, JPEG2000, JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLSNearLossless

from medlake.dicom.frames.htj2k import read_codestream_markers
from medlake.dicom.frames.transcode import FrameStatus, InstanceResult, transcode_frames

from htj2k_testdata import pydicom_frame, read_test_file

T, K, F = FrameStatus.TRANSCODED, FrameStatus.KEPT, FrameStatus.FAILED
RPCL = HTJ2KLosslessRPCL

# file, status of every frame, reason, verification, stored transfer syntax, stored
# Photometric Interpretation, number of frames
OUTCOMES = [
    ("693_J2KI.dcm", K, "lossy_jpeg_2000", None, JPEG2000, "MONOCHROME2", 1),
    ("CT_small.dcm", T, "lossless_source", "openjpeg", RPCL, "MONOCHROME2", 1),
    ("ExplVR_BigEnd.dcm", T, "lossless_source", "openjpeg", RPCL, "YBR_RCT", 1),
    ("GDCMJ2K_TextGBR.dcm", T, "lossless_source", "openjpeg", RPCL, "YBR_RCT", 1),
    ("J2K_pixelrep_mismatch.dcm", T, "lossless_source", "openjpeg", RPCL, "MONOCHROME2", 1),
    ("JPEG-lossy.dcm", F, "pixel_decode_failed", None, None, None, 1),
    ("JPEG2000-embedded-sequence-delimiter.dcm", F, "pixel_decode_failed", None, None, None, 1),
    ("JPEG2000.dcm", K, "lossy_jpeg_2000", None, JPEG2000, "MONOCHROME2", 1),
    ("JPEGLSNearLossless_08.dcm", K, "lossy_jpeg_ls", None, JPEGLSNearLossless, "MONOCHROME2", 1),
    ("JPEGLSNearLossless_16.dcm", K, "lossy_jpeg_ls", None, JPEGLSNearLossless, "MONOCHROME2", 1),
    ("JPGExtended.dcm", K, "lossy_jpeg", None, JPEGExtended12Bit, "MONOCHROME2", 1),
    ("MR_small.dcm", T, "lossless_source", "openjpeg", RPCL, "MONOCHROME2", 1),
    ("MR_small_RLE.dcm", T, "lossless_source", "openjpeg", RPCL, "MONOCHROME2", 1),
    ("MR_small_bigendian.dcm", T, "lossless_source", "openjpeg", RPCL, "MONOCHROME2", 1),
    ("MR_small_expb.dcm", T, "lossless_source", "openjpeg", RPCL, "MONOCHROME2", 1),
    ("MR_small_implicit.dcm", T, "lossless_source", "openjpeg", RPCL, "MONOCHROME2", 1),
    ("MR_small_jp2klossless.dcm", T, "lossless_source", "openjpeg", RPCL, "MONOCHROME2", 1),
    ("MR_small_jpeg_ls_lossless.dcm", T, "lossless_source", "openjpeg", RPCL, "MONOCHROME2", 1),
    ("MR_small_padded.dcm", T, "lossless_source", "openjpeg", RPCL, "MONOCHROME2", 1),
    ("MR_truncated.dcm", F, "pixel_decode_failed", None, None, None, 1),
    ("SC_jpeg_no_color_transform.dcm", K, "lossy_jpeg", None, JPEGBaseline8Bit, "RGB", 1),
    ("SC_jpeg_no_color_transform_2.dcm", K, "lossy_jpeg", None, JPEGBaseline8Bit, "RGB", 1),
    ("SC_rgb_dcmtk_+eb+cr.dcm", K, "lossy_jpeg", None, JPEGBaseline8Bit, "RGB", 1),
    ("SC_rgb_dcmtk_+eb+cy+n1.dcm", K, "lossy_jpeg", None, JPEGBaseline8Bit, "YBR_FULL", 1),
    ("SC_rgb_dcmtk_+eb+cy+n2.dcm", K, "lossy_jpeg", None, JPEGBaseline8Bit, "YBR_FULL", 1),
    ("SC_rgb_dcmtk_+eb+cy+np.dcm", K, "lossy_jpeg", None, JPEGBaseline8Bit, "YBR_FULL_422", 1),
    ("SC_rgb_dcmtk_+eb+cy+s2.dcm", K, "lossy_jpeg", None, JPEGBaseline8Bit, "YBR_FULL_422", 1),
    ("SC_rgb_dcmtk_+eb+cy+s4.dcm", K, "lossy_jpeg", None, JPEGBaseline8Bit, "YBR_FULL", 1),
    ("SC_rgb_gdcm_KY.dcm", K, "lossy_jpeg_2000", None, JPEG2000, "RGB", 1),
    ("SC_rgb_jls_lossy_line.dcm", K, "lossy_jpeg_ls", None, JPEGLSNearLossless, "RGB", 1),
    ("SC_rgb_jls_lossy_sample.dcm", K, "lossy_jpeg_ls", None, JPEGLSNearLossless, "RGB", 1),
    ("SC_rgb_jpeg.dcm", K, "lossy_jpeg", None, JPEGBaseline8Bit, "RGB", 1),
    ("SC_rgb_jpeg_app14_dcmd.dcm", K, "lossy_jpeg", None, JPEGBaseline8Bit, "RGB", 1),
    ("SC_rgb_jpeg_dcmd.dcm", T, "lossless_source", "openjpeg", RPCL, "YBR_RCT", 1),
    ("SC_rgb_jpeg_dcmtk.dcm", K, "lossy_jpeg", None, JPEGBaseline8Bit, "YBR_FULL", 1),
    ("SC_rgb_jpeg_gdcm.dcm", T, "lossless_source", "openjpeg", RPCL, "YBR_RCT", 1),
    ("SC_rgb_jpeg_lossy_gdcm.dcm", K, "lossy_jpeg", None, JPEGBaseline8Bit, "YBR_FULL", 1),
    ("SC_rgb_rle.dcm", T, "lossless_source", "openjpeg", RPCL, "YBR_RCT", 1),
    ("SC_rgb_rle_16bit.dcm", T, "lossless_source", "openjpeg", RPCL, "YBR_RCT", 1),
    ("SC_rgb_rle_16bit_2frame.dcm", T, "lossless_source", "openjpeg", RPCL, "YBR_RCT", 2),
    ("SC_rgb_rle_2frame.dcm", T, "lossless_source", "openjpeg", RPCL, "YBR_RCT", 2),
    ("SC_rgb_rle_32bit.dcm", T, "lossless_source", "openjph_only", RPCL, "YBR_RCT", 1),
    ("SC_rgb_rle_32bit_2frame.dcm", T, "lossless_source", "openjph_only", RPCL, "YBR_RCT", 2),
    ("SC_rgb_small_odd.dcm", T, "lossless_source", "openjpeg", RPCL, "YBR_RCT", 1),
    ("SC_rgb_small_odd_big_endian.dcm", T, "lossless_source", "openjpeg", RPCL, "YBR_RCT", 1),
    ("SC_rgb_small_odd_jpeg.dcm", K, "lossy_jpeg", None, JPEGBaseline8Bit, "YBR_FULL", 1),
    ("SC_ybr_full_422_uncompressed.dcm", T, "lossless_source", "openjpeg", RPCL, "YBR_FULL", 1),
    ("examples_jpeg2k.dcm", T, "lossless_source", "openjpeg", RPCL, "YBR_RCT", 1),
    ("examples_overlay.dcm", T, "lossless_source", "openjpeg", RPCL, "MONOCHROME2", 1),
    ("examples_palette.dcm", T, "lossless_source", "openjpeg", RPCL, "PALETTE COLOR", 1),
    ("examples_rgb_color.dcm", T, "lossless_source", "openjpeg", RPCL, "YBR_RCT", 1),
    ("examples_ybr_color.dcm", K, "lossy_jpeg", None, JPEGBaseline8Bit, "YBR_FULL_422", 30),
    ("image_dfl.dcm", T, "lossless_source", "openjpeg", RPCL, "MONOCHROME2", 1),
    ("liver_1frame.dcm", T, "lossless_source", "openjpeg", RPCL, "MONOCHROME2", 1),
    ("liver_expb_1frame.dcm", T, "lossless_source", "openjpeg", RPCL, "MONOCHROME2", 1),
    ("rtdose.dcm", T, "lossless_source", "openjph_only", RPCL, "MONOCHROME2", 15),
    ("rtdose_1frame.dcm", T, "lossless_source", "openjph_only", RPCL, "MONOCHROME2", 1),
    ("rtdose_expb.dcm", T, "lossless_source", "openjph_only", RPCL, "MONOCHROME2", 15),
    ("rtdose_expb_1frame.dcm", T, "lossless_source", "openjph_only", RPCL, "MONOCHROME2", 1),
    ("rtdose_rle.dcm", T, "lossless_source", "openjph_only", RPCL, "MONOCHROME2", 15),
    ("rtdose_rle_1frame.dcm", T, "lossless_source", "openjph_only", RPCL, "MONOCHROME2", 1),
]

# Files with a pixel data element that cannot be interpreted at all: file, instance failure reason
INSTANCE_FAILURES = [
    ("badVR.dcm", "invalid_pixel_attributes"),  # (0028,0008) 'Number of Frames' is not an integer
    ("meta_missing_tsyntax.dcm", "missing_transfer_syntax"),
    ("nested_priv_SQ.dcm", "invalid_pixel_attributes"),  # Pixel Data without the Image Pixel module
]

#: pydicom's bundled test files (the wheel's own copy; nothing is downloaded).
TEST_FILES = Path(get_testdata_file("CT_small.dcm", download=False)).parent
_CACHE: dict[str, InstanceResult] = {}


def _result(name: str) -> InstanceResult:
    if name not in _CACHE:
        _CACHE[name] = transcode_frames(read_test_file(name))
    return _CACHE[name]


def _decode_stored(codestream: bytes, verification: str) -> np.ndarray:
    if verification == "openjpeg":
        return openjpeg.decode(codestream)
    return imagecodecs.htj2k_decode(codestream, planar=False)


def test_table_covers_every_bundled_file_with_pixel_data() -> None:
    """A new pydicom release with a new pixel file makes this fail until the table says what to expect."""
    with_pixels = set()
    for path in TEST_FILES.glob("*.dcm"):
        ds = dcmread(path, force=True)
        if any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
            with_pixels.add(path.name)
    assert with_pixels == {row[0] for row in OUTCOMES} | {row[0] for row in INSTANCE_FAILURES}


@pytest.mark.parametrize("name, status, reason, verification, syntax, photometric, frames", OUTCOMES)
def test_outcome(
    name: str, status: FrameStatus, reason: str, verification: str | None, syntax: str | None,
    photometric: str | None, frames: int,
) -> None:
    result = _result(name)
    assert result.failure is None
    assert [(f.index, f.status, f.reason) for f in result.frames] == [(i, status, reason) for i in range(frames)]
    assert {f.verification for f in result.frames} == {verification}
    assert {f.transfer_syntax for f in result.frames} == {syntax}
    assert {f.photometric_interpretation for f in result.frames} == {photometric}


@pytest.mark.parametrize("name", [row[0] for row in OUTCOMES if row[1] is T])
def test_transcoded_frames_are_bit_exact(name: str) -> None:
    data = read_test_file(name)
    result = _result(name)
    attrs = result.attributes
    assert attrs is not None
    for frame in result.frames:
        assert frame.data is not None and frame.verification is not None
        expected = pydicom_frame(data, frame.index)
        decoded = _decode_stored(frame.data, frame.verification)
        np.testing.assert_array_equal(decoded, expected)
        assert frame.crc32 == zlib.crc32(expected.astype(expected.dtype.newbyteorder("<")).tobytes())
        assert frame.raw_size == expected.nbytes
        assert frame.encoded_size == len(frame.data)
        info = read_codestream_markers(frame.data)
        assert info.precisions == (attrs.bits_stored,) * attrs.samples_per_pixel
        assert info.signed == (attrs.signed,) * attrs.samples_per_pixel


@pytest.mark.parametrize("name", [row[0] for row in OUTCOMES if row[1] is K])
def test_kept_frames_keep_their_bytes_with_the_decoded_checksum(name: str) -> None:
    data = read_test_file(name)
    result = _result(name)
    ds = dcmread(BytesIO(data))
    originals = list(generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames") or 1)))
    for frame in result.frames:
        assert frame.data == originals[frame.index]
        expected = pydicom_frame(data, frame.index)
        assert frame.crc32 == zlib.crc32(expected.astype(expected.dtype.newbyteorder("<")).tobytes())
        assert frame.raw_size == expected.nbytes


@pytest.mark.parametrize("name, reason", INSTANCE_FAILURES)
def test_instance_failure(name: str, reason: str) -> None:
    result = _result(name)
    assert (result.failure, result.decision, result.frames) == (reason, None, ())
    assert result.detail.startswith("Unable to")


DICOMDIR_IMAGES = sorted(str(p) for p in TEST_FILES.glob("dicomdirtests/*/*/*") if p.name.isdigit())


@pytest.mark.parametrize("path", DICOMDIR_IMAGES, ids=lambda p: "/".join(Path(p).parts[-3:]))
def test_dicomdir_images_are_transcoded(path: str) -> None:
    with open(path, "rb") as f:
        data = f.read()
    result = transcode_frames(data)
    assert [(f.status, f.verification) for f in result.frames] == [(T, "openjpeg")]
    frame = result.frames[0]
    assert frame.data is not None
    np.testing.assert_array_equal(openjpeg.decode(frame.data), pydicom_frame(data, 0))
