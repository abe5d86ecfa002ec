"""decode_htj2k_frame: stored codestream to an array with pydicom's dtype and shape."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from pydicom import dcmread

from htj2k_testdata import pydicom_frame, read_test_file
from medlake.dicom.frames.htj2k import decode_htj2k_frame, encode_htj2k_frame, frame_dtype
from medlake.dicom.frames.transcode import transcode_frames

# file, expected dtype, expected shape of one frame
FRAMES = [
    ("CT_small.dcm", "int16", (128, 128)),
    ("examples_overlay.dcm", "uint16", (300, 484)),
    ("examples_rgb_color.dcm", "uint8", (240, 320, 3)),
    ("SC_ybr_full_422_uncompressed.dcm", "uint8", (100, 100, 3)),
    ("SC_rgb_rle_16bit_2frame.dcm", "uint16", (100, 100, 3)),
    ("SC_rgb_rle_32bit.dcm", "uint32", (100, 100, 3)),
    ("rtdose.dcm", "uint32", (10, 10)),
    ("liver_1frame.dcm", "uint8", (512, 512)),
    ("J2K_pixelrep_mismatch.dcm", "int16", (512, 512)),
]


@pytest.mark.parametrize("name, dtype, shape", FRAMES)
def test_decode_frame_matches_pydicom(name: str, dtype: str, shape: tuple[int, ...]) -> None:
    data = read_test_file(name)
    ds = dcmread(BytesIO(data))
    expected = pydicom_frame(data, int(ds.get("NumberOfFrames") or 1) - 1)  # YCbCr stays YCbCr
    result = transcode_frames(data)
    stored = result.frames[-1].data
    assert stored is not None
    frame = decode_htj2k_frame(stored, ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.BitsStored,
                         ds.PixelRepresentation == 1, bits_allocated=ds.BitsAllocated)
    assert (frame.dtype, frame.shape) == (np.dtype(dtype), shape)
    assert frame.dtype == expected.dtype.newbyteorder("=")
    np.testing.assert_array_equal(frame, expected)


@pytest.mark.parametrize(
    "bits_stored, signed, bits_allocated, dtype",
    [(1, False, 1, "u1"), (8, True, None, "i1"), (12, False, None, "u2"), (12, False, 16, "u2"),
     (8, False, 16, "u2"), (17, True, None, "i4"), (32, False, 32, "u4")],
)
def test_frame_dtype(bits_stored: int, signed: bool, bits_allocated: int | None, dtype: str) -> None:
    assert frame_dtype(bits_stored, signed, bits_allocated) == np.dtype(dtype)


def test_frame_dtype_rejects_bits_stored() -> None:
    with pytest.raises(ValueError, match="between 1 and 32"):
        frame_dtype(33, False)


CODESTREAM = encode_htj2k_frame(np.arange(48, dtype=np.uint16).reshape(6, 8) * 100, 13, False)


@pytest.mark.parametrize(
    "args, message",
    [
        ((6, 8, 3, 13, False), "shape"),
        ((8, 6, 1, 13, False), "shape"),
        ((6, 8, 1, 13, True), "signedness"),
        ((6, 8, 1, 8, False), "precision exceeds 8 bits"),
    ],
)
def test_decode_frame_rejects_disagreeing_attributes(args: tuple[int, int, int, int, bool], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_htj2k_frame(CODESTREAM, *args)


def test_decode_frame_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="codestream is invalid"):
        decode_htj2k_frame(b"\xff\x4f\xff\x51\x00", 6, 8, 1, 13, False)
