"""Encoding at the real bit depth, conforming frames to Bits Stored, and verification outcomes."""

from __future__ import annotations

import zlib

import imagecodecs
import numpy as np
import openjpeg
import pytest

from medlake.dicom.frames.htj2k import (
    Verification,
    encode_htj2k_frame,
    frame_crc32,
    read_codestream_markers,
    verify_htj2k_frame,
)
from medlake.dicom.frames.source import conform_frame

RNG = np.random.default_rng(11)

# (bits stored, signed, container dtype, samples)
DEPTHS = [
    (1, False, "u1", 1),
    (5, True, "i1", 1),
    (8, False, "u1", 3),
    (10, False, "u2", 1),
    (12, False, "u2", 3),
    (12, True, "i2", 1),
    (13, True, "i2", 1),
    (16, False, "u2", 1),
    (16, True, "i2", 3),
]


def _full_range(bits: int, signed: bool, dtype: str, samples: int, shape: tuple[int, int] = (37, 53)) -> np.ndarray:
    """Random samples covering the whole range of ``bits``, extremes included."""
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    full = shape if samples == 1 else (*shape, samples)
    frame = RNG.integers(low, high, full, endpoint=True).astype(dtype)
    frame.flat[0], frame.flat[1] = low, high
    return frame


@pytest.mark.parametrize("bits, signed, dtype, samples", DEPTHS)
def test_precision_is_bits_stored_and_openjpeg_decodes_exactly(bits: int, signed: bool, dtype: str, samples: int) -> None:
    frame = _full_range(bits, signed, dtype, samples)
    codestream = encode_htj2k_frame(frame, bits, signed, colour_transform=samples == 3)
    assert read_codestream_markers(codestream).precisions == (bits,) * samples
    np.testing.assert_array_equal(openjpeg.decode(codestream), frame)
    np.testing.assert_array_equal(imagecodecs.htj2k_decode(codestream, planar=False), frame)


@pytest.mark.parametrize("signed, dtype", [(False, "u4"), (True, "i4")])
def test_32_bit_is_verified_by_openjph_only(signed: bool, dtype: str) -> None:
    frame = _full_range(32, signed, dtype, 1)
    codestream = encode_htj2k_frame(frame, 32, signed)
    with pytest.raises(RuntimeError):
        openjpeg.decode(codestream)
    result = verify_htj2k_frame(codestream, frame)
    assert result.verification is Verification.OPENJPH_ONLY
    assert result.passed and result.crc32 == result.decoded_crc32 == zlib.crc32(frame.astype("<" + dtype).tobytes())


def test_verification_reports_a_mismatch_as_a_result() -> None:
    frame = _full_range(12, False, "u2", 1)
    other = frame.copy()
    other[3, 4] ^= 1
    result = verify_htj2k_frame(encode_htj2k_frame(frame, 12, False), other)
    assert result.verification is Verification.MISMATCH and not result.passed
    assert result.detail == "1 samples differ"
    assert result.crc32 == frame_crc32(other) != result.decoded_crc32


def test_verification_reports_an_undecodable_codestream() -> None:
    result = verify_htj2k_frame(b"\xff\x4f\xff\x51garbage", np.zeros((4, 4), np.uint8))
    assert result.verification is Verification.UNDECODABLE and not result.passed


def test_verification_reports_a_shape_mismatch() -> None:
    frame = _full_range(8, False, "u1", 1)
    result = verify_htj2k_frame(encode_htj2k_frame(frame, 8, False), frame.T.copy())
    assert result.verification is Verification.MISMATCH


# (input values, container dtype, bits stored, signed, expected values)
CONFORM = [
    ([0xF123, 0x0FFF], "<u2", 12, False, [0x0123, 0x0FFF]),
    ([0xF123, 0x0FFF], ">u2", 12, False, [0x0123, 0x0FFF]),
    ([0x0FFF, 0x0800, 0x07FF], "<i2", 12, True, [-1, -2048, 2047]),
    ([-1, 5], "<i2", 16, True, [-1, 5]),
    ([0x1FF], "<u2", 8, False, [0xFF]),
    ([0x80000001], "<u4", 31, False, [1]),
    ([3], "u1", 1, False, [1]),
]


@pytest.mark.parametrize("values, dtype, bits, signed, expected", CONFORM)
def test_conform_frame(values: list[int], dtype: str, bits: int, signed: bool, expected: list[int]) -> None:
    raw = np.array(values, dtype=np.int64).astype(np.dtype(dtype).newbyteorder("=")).astype(dtype)
    out = conform_frame(raw, bits, signed)
    assert out.dtype == np.dtype(f"{'i' if signed else 'u'}{raw.dtype.itemsize}")
    assert out.dtype.isnative
    assert out.tolist() == expected


@pytest.mark.parametrize(
    "frame, bits, signed, error",
    [
        (np.zeros((4, 4), np.int16), 12, False, TypeError),
        (np.zeros((4, 4), np.uint16), 17, False, ValueError),
        (np.zeros((4, 4, 2), np.uint8), 8, False, ValueError),
        (np.zeros((4, 4), np.float32), 16, True, TypeError),
    ],
)
def test_encode_rejects_bad_input(frame: np.ndarray, bits: int, signed: bool, error: type[Exception]) -> None:
    with pytest.raises(error):
        encode_htj2k_frame(frame, bits, signed)


def test_colour_transform_needs_three_samples() -> None:
    with pytest.raises(ValueError, match="3 samples"):
        encode_htj2k_frame(np.zeros((4, 4), np.uint8), 8, False, colour_transform=True)
