"""Lossless HTJ2K: encode a frame with OpenJPH, read the codestream's markers, verify independently.

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

import logging
import math
import struct
import warnings
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import imagecodecs
import numpy as np
import openjpeg
from pydicom.errors import InvalidDicomError
from pydicom.uid import HTJ2K, UID, HTJ2KLossless, HTJ2KLosslessRPCL

from medlake.dicom.pixels import (
    PixelAction,
    PixelAttributes,
    PixelSource,
    PixelSourceError,
    PolicyDecision,
    decide_policy,
    decoded_photometric_interpretation,
    open_pixel_source,
    read_encoded_frame,
    read_frame,
)
from medlake.quarantine import QuarantineReason

LOGGER = logging.getLogger(__name__)

__all__ = [
    "BASE_RESOLUTION_LIMIT",
    "CodestreamInfo",
    "FrameResult",
    "FrameStatus",
    "InstanceResult",
    "Verification",
    "VerificationResult",
    "transcode_frames",
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
        values already within ``bits_stored`` bits (see :func:`medlake.dicom.pixels.conform_frame`).
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


class FrameStatus(StrEnum):
    """Where a frame ends."""

    TRANSCODED = "transcoded"
    KEPT = "kept"
    FAILED = "failed"


@dataclass(frozen=True)
class FrameResult:
    """One frame's outcome: what is stored for it, or why nothing is.

    ``reason`` is a :class:`~medlake.dicom.pixels.PolicyReason` value for transcoded and kept
    frames and a quarantine reason for failed ones. ``data`` is the HTJ2K codestream of a
    transcoded frame or the original encoded bytes of a kept one; ``raw_size`` is the size of the
    decoded frame (one container per sample) and ``crc32`` its checksum.
    """

    index: int
    status: FrameStatus
    reason: str
    transfer_syntax: str | None = None
    photometric_interpretation: str | None = None
    data: bytes | None = None
    raw_size: int = 0
    crc32: int | None = None
    verification: Verification | None = None
    detail: str = ""

    @property
    def encoded_size(self) -> int:
        """Return the size of the stored bytes (0 when nothing is stored)."""
        return len(self.data) if self.data is not None else 0


@dataclass(frozen=True)
class InstanceResult:
    """The outcome for the requested frames of one instance.

    ``failure`` is set (a quarantine reason) when the instance could not be interpreted at all;
    otherwise ``decision`` says what the policy chose and ``frames`` holds one result per
    requested frame (none for ``pass_through``). ``warnings`` are pydicom's messages, which may
    quote element values: store them with the row, never log them.
    """

    transfer_syntax: str | None
    attributes: PixelAttributes | None
    decision: PolicyDecision | None
    frames: tuple[FrameResult, ...] = ()
    failure: str | None = None
    detail: str = ""
    warnings: tuple[str, ...] = ()


def _transcode_frame(source: PixelSource, index: int, reason: str) -> FrameResult:
    attrs = source.attributes
    decoded_pi = decoded_photometric_interpretation(attrs)
    colour_transform = attrs.samples_per_pixel == 3 and decoded_pi == "RGB"
    try:
        frame = read_frame(source, index)
    except Exception as exc:  # any decoder failure is a result for this frame, not a crash
        return FrameResult(index, FrameStatus.FAILED, QuarantineReason.PIXEL_DECODE_FAILED,
                           detail=f"Unable to decode frame {index} as {type(exc).__name__} was raised")
    try:
        codestream = encode_htj2k_frame(frame, attrs.bits_stored, attrs.signed, colour_transform)
    except (RuntimeError, ValueError, TypeError) as exc:
        return FrameResult(index, FrameStatus.FAILED, QuarantineReason.ENCODE_FAILED, raw_size=frame.nbytes,
                           crc32=frame_crc32(frame),
                           detail=f"Unable to encode frame {index} as {type(exc).__name__} was raised")
    check = verify_htj2k_frame(codestream, frame)
    if not check.passed:
        return FrameResult(index, FrameStatus.FAILED, QuarantineReason.VERIFICATION_FAILED, raw_size=frame.nbytes,
                           crc32=check.crc32, verification=check.verification, detail=check.detail)
    return FrameResult(
        index, FrameStatus.TRANSCODED, reason,
        transfer_syntax=htj2k_transfer_syntax(read_codestream_markers(codestream)),
        photometric_interpretation="YBR_RCT" if colour_transform else decoded_pi, data=codestream, raw_size=frame.nbytes,
        crc32=check.crc32, verification=check.verification,
    )


def _keep_frame(source: PixelSource, index: int, reason: str) -> FrameResult:
    try:
        encoded = read_encoded_frame(source, index)
        frame = read_frame(source, index)
    except Exception as exc:  # any decoder failure is a result for this frame, not a crash
        return FrameResult(index, FrameStatus.FAILED, QuarantineReason.PIXEL_DECODE_FAILED,
                           detail=f"Unable to decode frame {index} as {type(exc).__name__} was raised")
    return FrameResult(
        index, FrameStatus.KEPT, reason, transfer_syntax=source.transfer_syntax,
        photometric_interpretation=source.attributes.photometric_interpretation, data=encoded,
        raw_size=frame.nbytes, crc32=frame_crc32(frame),
    )


def transcode_frames(data: bytes, indices: Iterable[int] | None = None) -> InstanceResult:
    """Apply the pixel policy to frames of one instance, read again from its bytes.

    This is the unit of work of the Spark job: a ``mapInPandas`` adapter passes one instance's
    bytes and a bounded group of frame indices, so no task holds more than that group's pixels.
    Lossless sources are decoded, encoded as HTJ2K and verified frame by frame; lossy sources
    keep each frame's original bytes with the CRC32 of its decoded pixels; video and float
    pixel data pass through. Problems are returned as data, never raised.

    Parameters
    ----------
    data
        The DICOM Part 10 file's bytes.
    indices
        0-based frame indices; all frames when ``None``.

    Returns
    -------
    InstanceResult
        The policy decision and one :class:`FrameResult` per requested frame, or the reason the
        instance could not be interpreted.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> with open(get_testdata_file("SC_rgb_rle_2frame.dcm", download=False), "rb") as f:
    ...     result = transcode_frames(f.read())
    >>> [(f.status.value, f.verification.value, f.photometric_interpretation) for f in result.frames]
    [('transcoded', 'openjpeg', 'YBR_RCT'), ('transcoded', 'openjpeg', 'YBR_RCT')]
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _transcode_frames(data, indices)
    messages = tuple(str(w.message) for w in caught)
    LOGGER.debug("Processed %d frames (%d warnings)", len(result.frames), len(messages))
    return InstanceResult(
        result.transfer_syntax, result.attributes, result.decision, result.frames,
        result.failure, result.detail, messages,
    )


def _transcode_frames(data: bytes, indices: Iterable[int] | None) -> InstanceResult:
    try:
        source = open_pixel_source(data)
    except PixelSourceError as exc:
        return InstanceResult(None, None, None, failure=exc.reason, detail=str(exc))
    except InvalidDicomError:
        return InstanceResult(None, None, None, failure=QuarantineReason.NOT_DICOM,
                              detail="Unable to read the file as it is not DICOM Part 10")
    attrs = source.attributes
    decision = decide_policy(source.transfer_syntax, attrs)
    wanted = range(attrs.number_of_frames) if indices is None else list(indices)
    if decision.action is PixelAction.PASS_THROUGH:
        frames: tuple[FrameResult, ...] = ()
    elif decision.action is PixelAction.KEEP_ORIGINAL:
        frames = tuple(_keep_frame(source, i, decision.reason) for i in wanted)
    else:
        frames = tuple(_transcode_frame(source, i, decision.reason) for i in wanted)
    return InstanceResult(source.transfer_syntax, attrs, decision, frames)
