"""The codestream marker reader and the transfer syntax a codestream qualifies for."""

from __future__ import annotations

import imagecodecs
import numpy as np
import pytest
from pydicom.pixels.utils import get_j2k_parameters
from pydicom.uid import HTJ2K, HTJ2KLossless, HTJ2KLosslessRPCL

from medlake.dicom.frames.htj2k import (
    decomposition_levels_for,
    encode_htj2k_frame,
    htj2k_transfer_syntax,
    read_codestream_markers,
)

RNG = np.random.default_rng(7)


def _smooth(shape: tuple[int, ...], low: int, high: int, dtype: str) -> np.ndarray:
    """A smooth random image within [low, high]."""
    walk = np.cumsum(RNG.integers(-3, 4, shape), axis=1)
    return np.clip(walk + (low + high) // 2, low, high).astype(dtype)


# (rows, columns, samples, bits stored, signed, dtype, colour transform, levels)
ENCODED = [
    (64, 64, 1, 8, False, "u1", False, 3),
    (300, 484, 1, 12, False, "u2", False, 5),
    (128, 128, 1, 16, True, "i2", False, 4),
    (512, 256, 1, 13, True, "i2", False, 5),
    (100, 100, 3, 8, False, "u1", True, 3),
    (100, 100, 3, 8, False, "u1", False, 3),
    (4200, 10, 1, 10, False, "u2", False, 7),
    (3, 3, 3, 8, False, "u1", True, 1),
]


@pytest.mark.parametrize("rows, columns, samples, bits, signed, dtype, mct, levels", ENCODED)
def test_markers_of_encoded_frames(
    rows: int, columns: int, samples: int, bits: int, signed: bool, dtype: str, mct: bool, levels: int
) -> None:
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    shape = (rows, columns) if samples == 1 else (rows, columns, samples)
    info = read_codestream_markers(encode_htj2k_frame(_smooth(shape, low, high, dtype), bits, signed, mct))
    assert (info.width, info.height) == (columns, rows)
    assert info.precisions == (bits,) * samples
    assert info.signed == (signed,) * samples
    assert info.progression_order == "RPCL"
    assert info.decomposition_levels == levels
    assert info.uses_colour_transform is mct
    assert info.reversible and info.has_tlm and info.has_cap and info.is_htj2k
    assert info.layers == 1
    assert max(info.base_resolution) <= 64
    assert htj2k_transfer_syntax(info) == HTJ2KLosslessRPCL


def test_markers_agree_with_pydicom_parser() -> None:
    codestream = encode_htj2k_frame(_smooth((40, 50), -2048, 2047, "i2"), 12, True)
    assert get_j2k_parameters(codestream) == {"jp2": False, "precision": 12, "is_signed": True}


def test_markers_of_openjpeg_part1_codestream() -> None:
    """A plain JPEG 2000 codestream from another encoder: LRCP, no TLM, no CAP."""
    frame = _smooth((64, 80), 0, 255, "u1")
    info = read_codestream_markers(imagecodecs.jpeg2k_encode(frame, level=0, codecformat="J2K", reversible=True))
    assert info.progression_order == "LRCP"
    assert not info.has_tlm and not info.has_cap and not info.is_htj2k
    assert info.reversible
    assert htj2k_transfer_syntax(info) == HTJ2KLossless


# (keyword arguments to imagecodecs.htj2k_encode, expected transfer syntax)
LABELS = [
    ({"tlm": True, "resolutions": 7}, HTJ2KLosslessRPCL),  # base 33 px
    ({"tlm": True, "resolutions": 5}, HTJ2KLossless),  # base 132 px > 64
    ({"tlm": False, "resolutions": 7}, HTJ2KLossless),  # no TLM
    ({"tlm": True, "resolutions": 7, "reversible": False, "level": 0.01}, HTJ2K),  # irreversible
]


@pytest.mark.parametrize("options, expected", LABELS)
def test_transfer_syntax_label(options: dict[str, object], expected: str) -> None:
    frame = _smooth((4200, 16), 0, 255, "u1")
    info = read_codestream_markers(imagecodecs.htj2k_encode(frame, **options))
    assert htj2k_transfer_syntax(info) == expected


@pytest.mark.parametrize("rows, columns, levels", [
    (1, 1, 1), (15, 15, 1), (16, 16, 1), (64, 64, 3), (128, 128, 4), (240, 320, 4), (512, 512, 5),
    (2048, 2048, 5), (2049, 100, 6), (4096, 3328, 6), (10000, 10, 8),
])
def test_decomposition_levels(rows: int, columns: int, levels: int) -> None:
    assert decomposition_levels_for(rows, columns) == levels
    assert -(-max(rows, columns) // (1 << levels)) <= 64


@pytest.mark.parametrize("rows, columns", [(16, 16), (64, 64), (100, 300), (128, 128), (240, 320), (512, 512), (2048, 2048)])
def test_decomposition_levels_match_openjpeg_default(rows: int, columns: int) -> None:
    """Where no more are needed for .202, HTJ2K uses the levels OpenJPEG's JPEG 2000 encoder picks."""
    frame = _smooth((rows, columns), 0, 255, "u1")
    openjpeg_default = read_codestream_markers(
        imagecodecs.jpeg2k_encode(frame, level=0, codecformat="J2K", reversible=True)
    ).decomposition_levels
    assert decomposition_levels_for(rows, columns) == openjpeg_default
    assert read_codestream_markers(encode_htj2k_frame(frame, 8, False)).decomposition_levels == openjpeg_default


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x00\x00\x00\x0cjP  ", "does not start with SOC"),
        (b"\xff\x4f\xff\x51\x00\x29\x00", "truncated"),
        (b"\xff\x4f\xff\x90\x00\x0a", "SIZ or COD is missing"),
    ],
)
def test_marker_reader_rejects_bad_codestreams(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_codestream_markers(data)
