"""Lossless HTJ2K codec: encode a frame with OpenJPH, read the codestream's markers, verify independently, decode.

Encoding uses imagecodecs' OpenJPH binding with the reversible 5/3 wavelet, RPCL progression,
one tile-part per resolution with a TLM marker (so a client can fetch a low resolution by byte
range), OpenJPH's 64x64 code-blocks and no precincts. The decomposition levels are those
OpenJPEG picks by default for JPEG 2000 (at most 5, keeping the shorter side of the lowest
resolution at 8 pixels or more), raised where needed for a base resolution of at most 64 pixels:
further levels on a small frame only add subband overhead. OpenJPH runs single-threaded, so one
call uses one codec thread.

**Precision.** ``imagecodecs.htj2k_encode`` has no bit-depth argument: it writes the dtype's
size (8, 16 or 32 bits) as the component precision. PS3.5 8.2.4 wants the codestream to agree
with *Bits Stored*, so for ``bits_stored`` below the container size the frame is coded exactly
as a ``bits_stored``-bit encoder would code it, and the precision in SIZ is then rewritten:

* signed samples need no DC level shift, so the coded coefficients are the same whatever the
  declared precision;
* unsigned samples are offset by ``2**(C-1) - 2**(B-1)`` before encoding (``C`` the container,
  ``B`` the bits stored), so that the encoder's level shift by ``2**(C-1)`` leaves ``v - 2**(B-1)``,
  the value a ``B``-bit encoder codes.

The quantisation (QCD) exponents still reflect ``C`` bits, which only signals a few more empty
bit-planes to the decoder; a decoder uses the SIZ precision for the inverse level shift and
clipping. Every frame is then decoded again by OpenJPEG and compared bit for bit, so a codestream
that does not decode to the original is never reported as good.

**Colour.** RGB frames are coded with the reversible colour transform (RCT) and labelled
``YBR_RCT`` (PS3.5 Table 8.2.4-1), which compresses better than three independent components;
YCbCr frames are coded without a colour transform and keep their interpretation.

**Checksums.** As AWS HealthImaging does, a frame's checksum is the CRC32 (``zlib.crc32``) of its
decoded pixels: the container dtype in little-endian order, samples interleaved, rows in order.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from enum import StrEnum

import imagecodecs
import numpy as np
import openjpeg
from pydicom.uid import HTJ2K, UID, HTJ2KLossless, HTJ2KLosslessRPCL


__all__ = [
    "BASE_RESOLUTION_LIMIT",
    "CodestreamInfo",
    "Verification",
    "VerificationResult",
    "decode_htj2k_frame",
    "frame_dtype",
    "read_codestream_markers",
    "decomposition_levels_for",
    "encode_htj2k_frame",
    "htj2k_transfer_syntax",
    "frame_crc32",
    "verify_htj2k_frame",
]

#: The largest side, in pixels, of the lowest resolution level for HTJ2K Lossless RPCL (.202).
BASE_RESOLUTION_LIMIT = 64
#: The most decomposition levels used unless a large frame needs more (OpenJPEG's default).
_MAX_DEFAULT_LEVELS = 5
#: The shortest side, in pixels, the lowest resolution keeps unless a large frame needs more.
_MIN_BASE_SIDE = 8

_SOC, _SIZ, _CAP, _COD, _TLM, _SOT = 0xFF4F, 0xFF51, 0xFF50, 0xFF52, 0xFF55, 0xFF90
_PROGRESSION_ORDERS = ("LRCP", "RLCP", "RPCL", "PCRL", "CPRL")
#: Pcap bit announcing ISO/IEC 15444-15 (HTJ2K) capabilities (Pcap^15, counted from the MSB).
_PCAP_HTJ2K = 1 << (32 - 15)
_SIZ_FIXED = 38  # bytes of SIZ from Lsiz up to the first component's Ssiz


class Verification(StrEnum):
    """How an HTJ2K frame was checked against the original pixels."""

    OPENJPEG = "openjpeg"
    """Decoded by OpenJPEG (independent of the encoder) and equal bit for bit."""
    OPENJPH_ONLY = "openjph_only"
    """OpenJPEG could not decode it; OpenJPH's own decoder did, equal bit for bit (not independent)."""
    MISMATCH = "mismatch"
    """Decoded, but the pixels or the CRC32 differ from the original."""
    UNDECODABLE = "undecodable"
    """Neither decoder could decode the codestream."""


@dataclass(frozen=True)
class CodestreamInfo:
    """What the main header of a JPEG 2000 / HTJ2K codestream declares."""

    width: int
    height: int
    precisions: tuple[int, ...]
    signed: tuple[bool, ...]
    progression_order: str
    decomposition_levels: int
    layers: int
    uses_colour_transform: bool
    reversible: bool
    has_tlm: bool
    has_cap: bool
    is_htj2k: bool

    @property
    def base_resolution(self) -> tuple[int, int]:
        """Return (width, height) of the lowest resolution level."""
        scale = 1 << self.decomposition_levels
        return (-(-self.width // scale), -(-self.height // scale))


@dataclass(frozen=True)
class VerificationResult:
    """The outcome of decoding an encoded frame and comparing it with the original."""

    verification: Verification
    crc32: int
    decoded_crc32: int | None
    detail: str = ""

    @property
    def passed(self) -> bool:
        """Return whether the decoded frame equals the original."""
        return self.verification in (Verification.OPENJPEG, Verification.OPENJPH_ONLY)


def read_codestream_markers(codestream: bytes) -> CodestreamInfo:
    """Read SIZ, CAP, COD and TLM from a codestream's main header.

    Parameters
    ----------
    codestream
        A raw JPEG 2000 codestream (starting with the SOC marker, not a JP2 file).

    Returns
    -------
    CodestreamInfo
        Image size, per-component precision and signedness, progression order, decomposition
        levels, colour transform, wavelet and the presence of TLM and CAP.

    Raises
    ------
    ValueError
        If the data does not start with SOC, a marker segment is truncated, or SIZ or COD is
        missing from the main header.

    Examples
    --------
    >>> import numpy as np
    >>> info = read_codestream_markers(encode_htj2k_frame(np.zeros((300, 200), np.uint16), 12, False))
    >>> info.precisions, info.progression_order, info.decomposition_levels, info.has_tlm
    ((12,), 'RPCL', 4, True)
    """
    if codestream[:2] != _SOC.to_bytes(2, "big"):
        raise ValueError("Unable to read the codestream markers as the data does not start with SOC")
    siz: bytes | None = None
    cod: bytes | None = None
    cap: bytes | None = None
    has_tlm = False
    offset = 2
    while True:
        if offset + 4 > len(codestream):
            raise ValueError("Unable to read the codestream markers as the main header is truncated")
        marker, length = struct.unpack_from(">HH", codestream, offset)
        if marker == _SOT:
            break
        segment = codestream[offset + 4 : offset + 2 + length]
        if length < 2 or len(segment) != length - 2:
            raise ValueError(f"Unable to read the codestream markers as marker 0x{marker:04X} is truncated")
        if marker == _SIZ:
            siz = segment
        elif marker == _COD:
            cod = segment
        elif marker == _CAP:
            cap = segment
        elif marker == _TLM:
            has_tlm = True
        offset += 2 + length
    if siz is None or cod is None:
        raise ValueError("Unable to read the codestream markers as SIZ or COD is missing")
    xsiz, ysiz, xosiz, yosiz = struct.unpack_from(">IIII", siz, 2)
    (components,) = struct.unpack_from(">H", siz, 34)
    ssiz = [siz[36 + 3 * c] for c in range(components)]
    (layers,) = struct.unpack_from(">H", cod, 2)
    pcap = struct.unpack_from(">I", cap, 0)[0] if cap is not None and len(cap) >= 4 else 0
    return CodestreamInfo(
        width=xsiz - xosiz,
        height=ysiz - yosiz,
        precisions=tuple((s & 0x7F) + 1 for s in ssiz),
        signed=tuple(bool(s & 0x80) for s in ssiz),
        progression_order=_PROGRESSION_ORDERS[cod[1]] if cod[1] < len(_PROGRESSION_ORDERS) else f"0x{cod[1]:02X}",
        decomposition_levels=cod[5],
        layers=layers,
        uses_colour_transform=cod[4] == 1,
        reversible=cod[9] == 1,
        has_tlm=has_tlm,
        has_cap=cap is not None,
        is_htj2k=bool(pcap & _PCAP_HTJ2K),
    )


def decomposition_levels_for(rows: int, columns: int) -> int:
    """Return the decomposition levels used for a frame.

    As many as OpenJPEG uses by default (at most 5, with the lowest resolution's shorter side at
    least 8 pixels), more if needed for a base resolution of at most 64 pixels, and at least 1
    (imagecodecs reads 0 as "OpenJPH's default of 5").

    Examples
    --------
    >>> decomposition_levels_for(64, 64), decomposition_levels_for(512, 512), decomposition_levels_for(4096, 3328)
    (3, 5, 6)
    """
    needed = math.ceil(math.log2(max(rows, columns, 1) / BASE_RESOLUTION_LIMIT))
    default = min(_MAX_DEFAULT_LEVELS, int(math.log2(max(min(rows, columns), 1) / _MIN_BASE_SIDE)))
    return max(1, default, needed)


def _set_precision(codestream: bytes, bits_stored: int, signed: bool) -> bytes:
    """Return ``codestream`` with every component's SIZ precision set to ``bits_stored``."""
    if codestream[2:4] != _SIZ.to_bytes(2, "big"):
        raise ValueError("Unable to set the precision as SIZ does not follow SOC")
    out = bytearray(codestream)
    (components,) = struct.unpack_from(">H", out, 4 + 36)
    ssiz = (bits_stored - 1) | (0x80 if signed else 0)
    for c in range(components):
        out[4 + _SIZ_FIXED + 3 * c] = ssiz
    return bytes(out)


def encode_htj2k_frame(
    frame: np.ndarray, bits_stored: int, signed: bool, colour_transform: bool = False
) -> bytes:
    """Encode one frame as a lossless HTJ2K codestream whose precision is ``bits_stored``.

    Parameters
    ----------
    frame
        Shape (rows, columns) or (rows, columns, 3), dtype (u)int8/16/32 matching ``signed``,
        values already within ``bits_stored`` bits (see :func:`medlake.dicom.frames.source.conform_frame`).
    bits_stored
        The precision to declare, 1 to the container's size.
    signed
        Whether the samples are signed.
    colour_transform
        Apply the reversible colour transform (three-sample RGB frames only).

    Returns
    -------
    bytes
        The codestream: reversible 5/3 wavelet, RPCL, TLM, one tile-part per resolution.

    Raises
    ------
    TypeError
        If the dtype is not an integer type of the given signedness.
    ValueError
        If the shape, ``bits_stored`` or ``colour_transform`` does not fit the frame.
    imagecodecs.Htj2kError
        If OpenJPH fails.

    Examples
    --------
    >>> import numpy as np
    >>> frame = np.arange(64, dtype=np.int16).reshape(8, 8) - 32
    >>> encode_htj2k_frame(frame, 7, True)[:4].hex()
    'ff4fff51'
    """
    if frame.dtype.kind != ("i" if signed else "u"):
        raise TypeError(f"'frame' must have a {'signed' if signed else 'unsigned'} integer dtype, not {frame.dtype}")
    samples = 1 if frame.ndim == 2 else frame.shape[-1]
    if frame.ndim not in (2, 3) or samples not in (1, 3):
        raise ValueError(f"'frame' must have shape (rows, columns) or (rows, columns, 3), not {frame.shape}")
    container_bits = 8 * frame.dtype.itemsize
    if not 1 <= bits_stored <= container_bits:
        raise ValueError(f"'bits_stored' must be between 1 and {container_bits}, not {bits_stored}")
    if colour_transform and samples != 3:
        raise ValueError("'colour_transform' needs a frame with 3 samples per pixel")
    data = np.ascontiguousarray(frame, dtype=frame.dtype.newbyteorder("="))
    if not signed and bits_stored < container_bits:
        offset = (1 << (container_bits - 1)) - (1 << (bits_stored - 1))
        data = data + data.dtype.type(offset)
    codestream = bytes(imagecodecs.htj2k_encode(
        data,
        reversible=True,
        rgb=colour_transform,
        resolutions=decomposition_levels_for(frame.shape[0], frame.shape[1]),
        tlm=True,
        tilepart=imagecodecs.HTJ2K.TILEPART.RESOLUTIONS,
    ))
    if bits_stored < container_bits:
        codestream = _set_precision(codestream, bits_stored, signed)
    return codestream


def htj2k_transfer_syntax(info: CodestreamInfo) -> UID:
    """Return the HTJ2K transfer syntax a codestream qualifies for.

    ``HTJ2KLosslessRPCL`` (.202) needs the reversible wavelet, RPCL progression, TLM markers and a
    base resolution of at most 64 pixels a side; other reversible codestreams are
    ``HTJ2KLossless`` (.201) and irreversible ones ``HTJ2K`` (.203).

    Examples
    --------
    >>> import numpy as np
    >>> info = read_codestream_markers(encode_htj2k_frame(np.zeros((64, 64), np.uint8), 8, False))
    >>> htj2k_transfer_syntax(info).name
    'High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)'
    """
    if not info.reversible:
        return HTJ2K
    if (
        info.progression_order == "RPCL"
        and info.has_tlm
        and max(info.base_resolution) <= BASE_RESOLUTION_LIMIT
    ):
        return HTJ2KLosslessRPCL
    return HTJ2KLossless


def frame_crc32(frame: np.ndarray) -> int:
    """Return the CRC32 of a decoded frame's pixels (little-endian container bytes, C order).

    Examples
    --------
    >>> import numpy as np
    >>> frame_crc32(np.array([1, 2], dtype=">u2")) == frame_crc32(np.array([1, 2], dtype="<u2"))
    True
    """
    little = frame.astype(frame.dtype.newbyteorder("<"), copy=False)
    return zlib.crc32(np.ascontiguousarray(little).data)


def _decode_for_verification(codestream: bytes) -> tuple[np.ndarray, Verification]:
    try:
        return openjpeg.decode(codestream), Verification.OPENJPEG
    except RuntimeError:
        # OpenJPEG rejects e.g. OpenJPH's 32-bit codestreams; fall back to OpenJPH itself.
        return imagecodecs.htj2k_decode(codestream, planar=False), Verification.OPENJPH_ONLY


def verify_htj2k_frame(codestream: bytes, original: np.ndarray) -> VerificationResult:
    """Decode ``codestream`` and compare it with ``original`` bit for bit and by CRC32.

    OpenJPEG (pylibjpeg-openjpeg), a decoder independent of the encoder, is tried first; only if
    it cannot decode the codestream is OpenJPH's decoder used, recorded as ``openjph_only``.
    A failed check is returned, not raised.

    Parameters
    ----------
    codestream
        The encoded frame.
    original
        The frame that was encoded (as conformed before encoding).

    Returns
    -------
    VerificationResult
        The verification outcome, the original's CRC32 and the decoded frame's CRC32.

    Examples
    --------
    >>> import numpy as np
    >>> frame = np.arange(256, dtype=np.uint16).reshape(16, 16) * 7
    >>> result = verify_htj2k_frame(encode_htj2k_frame(frame, 11, False), frame)
    >>> result.verification.value, result.passed
    ('openjpeg', True)
    """
    crc = frame_crc32(original)
    try:
        decoded, verification = _decode_for_verification(codestream)
    except (RuntimeError, ValueError) as exc:
        return VerificationResult(Verification.UNDECODABLE, crc, None, f"Unable to decode the codestream as {type(exc).__name__}")
    if decoded.shape != original.shape or decoded.dtype.kind != original.dtype.kind:
        return VerificationResult(
            Verification.MISMATCH, crc, None,
            f"Decoded shape {decoded.shape} {decoded.dtype} differs from {original.shape} {original.dtype}",
        )
    decoded_crc = frame_crc32(decoded.astype(original.dtype))
    if decoded_crc != crc or not np.array_equal(decoded, original):
        mismatched = int(np.count_nonzero(decoded != original))
        return VerificationResult(Verification.MISMATCH, crc, decoded_crc, f"{mismatched} samples differ")
    return VerificationResult(verification, crc, decoded_crc)


def frame_dtype(bits_stored: int, signed: bool, bits_allocated: int | None = None) -> np.dtype:
    """Return the dtype of a decoded frame.

    Parameters
    ----------
    bits_stored
        (0028,0101) 'Bits Stored', 1 to 32.
    signed
        Whether (0028,0103) 'Pixel Representation' is 1.
    bits_allocated
        (0028,0100) 'Bits Allocated'; when given and wider, it sets the container (as pydicom
        does), except that 1-bit data is returned one sample per byte.

    Raises
    ------
    ValueError
        If ``bits_stored`` is outside 1 to 32.

    Examples
    --------
    >>> frame_dtype(12, True), frame_dtype(12, False, bits_allocated=32), frame_dtype(1, False)
    (dtype('int16'), dtype('uint32'), dtype('uint8'))
    """
    if not 1 <= bits_stored <= 32:
        raise ValueError(f"'bits_stored' must be between 1 and 32, not {bits_stored}")
    bits = max(bits_stored, bits_allocated or 0)
    size = 1 if bits <= 8 else 2 if bits <= 16 else 4
    return np.dtype(f"{'i' if signed else 'u'}{size}")


def decode_htj2k_frame(
    codestream: bytes,
    rows: int,
    columns: int,
    samples: int,
    bits_stored: int,
    signed: bool,
    *,
    bits_allocated: int | None = None,
) -> np.ndarray:
    """Decode one HTJ2K codestream to an array of the expected shape and dtype.

    Parameters
    ----------
    codestream
        The frame's codestream, as stored in ``dicom.frame``.
    rows, columns, samples
        The frame's (0028,0010) 'Rows', (0028,0011) 'Columns' and (0028,0002) 'Samples per Pixel'.
    bits_stored, signed
        (0028,0101) 'Bits Stored' and whether (0028,0103) 'Pixel Representation' is 1.
    bits_allocated
        Optionally (0028,0100) 'Bits Allocated', to get pydicom's container size.

    Returns
    -------
    numpy.ndarray
        Shape (rows, columns) for one sample, (rows, columns, samples) otherwise, samples
        interleaved; colour-transformed (``YBR_RCT``) codestreams come back as RGB.

    Raises
    ------
    ValueError
        If the codestream's size, number of components, signedness or precision disagrees with
        the arguments, or it cannot be decoded.

    Examples
    --------
    >>> import numpy as np
    >>> frame = (np.arange(30, dtype=np.int16) - 2048).reshape(5, 6)
    >>> out = decode_htj2k_frame(encode_htj2k_frame(frame, 12, True), 5, 6, 1, 12, True)
    >>> out.dtype, out.shape, bool((out == frame).all())
    (dtype('int16'), (5, 6), True)
    """
    expected_shape = (rows, columns) if samples == 1 else (rows, columns, samples)
    dtype = frame_dtype(bits_stored, signed, bits_allocated)
    try:
        decoded = imagecodecs.htj2k_decode(codestream, planar=False)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"Unable to decode the frame as the codestream is invalid ({type(exc).__name__})") from exc
    if decoded.shape != expected_shape:
        raise ValueError(f"Unable to decode the frame as its shape {decoded.shape} is not {expected_shape}")
    if decoded.dtype.kind != dtype.kind:
        raise ValueError("Unable to decode the frame as its signedness differs from 'signed'")
    if decoded.dtype.itemsize > dtype.itemsize:
        raise ValueError(f"Unable to decode the frame as its precision exceeds {bits_stored} bits")
    return decoded.astype(dtype, copy=False)
