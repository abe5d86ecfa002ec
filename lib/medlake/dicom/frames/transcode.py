"""Transcoding the frames of one instance: the pixel policy applied frame by frame, problems as data.

Lossless sources are decoded (:mod:`medlake.dicom.frames.source`), encoded as HTJ2K and verified
by a second decoder (:mod:`medlake.dicom.frames.htj2k`); lossy sources keep each frame's original
bytes with the CRC32 of its decoded pixels; video and float pixel data pass through.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from pydicom.errors import InvalidDicomError

from medlake.dicom.frames.htj2k import (
    Verification,
    encode_htj2k_frame,
    frame_crc32,
    htj2k_transfer_syntax,
    read_codestream_markers,
    verify_htj2k_frame,
)
from medlake.dicom.frames.source import (
    PixelAction,
    PixelAttributes,
    PixelSource,
    PixelSourceError,
    PolicyDecision,
    SourceSlice,
    decide_policy,
    decode_source_frame,
    decoded_photometric_interpretation,
    encoded_source_frame,
    open_pixel_slice,
    open_pixel_source,
)
from medlake.quarantine import QuarantineReason

LOGGER = logging.getLogger(__name__)

__all__ = ["FrameResult", "FrameStatus", "InstanceResult", "transcode_frames"]


class FrameStatus(StrEnum):
    """Where a frame ends."""

    TRANSCODED = "transcoded"
    KEPT = "kept"
    FAILED = "failed"


@dataclass(frozen=True)
class FrameResult:
    """One frame's outcome: what is stored for it, or why nothing is.

    ``reason`` is a :class:`~medlake.dicom.frames.source.PolicyReason` value for transcoded and kept
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


def _transcode_frame(source: PixelSource, position: int, index: int, reason: str) -> FrameResult:
    """Transcode the frame at ``position`` of ``source``, frame ``index`` of the instance."""
    attrs = source.attributes
    decoded_pi = decoded_photometric_interpretation(attrs)
    colour_transform = attrs.samples_per_pixel == 3 and decoded_pi == "RGB"
    try:
        frame = decode_source_frame(source, position)
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
        photometric_interpretation="YBR_RCT" if colour_transform else decoded_pi, data=codestream,
        raw_size=frame.nbytes,
        crc32=check.crc32, verification=check.verification,
    )


def _keep_frame(source: PixelSource, position: int, index: int, reason: str) -> FrameResult:
    """Keep the frame at ``position`` of ``source`` as encoded, frame ``index`` of the instance."""
    try:
        encoded = encoded_source_frame(source, position)
        frame = decode_source_frame(source, position)
    except Exception as exc:  # any decoder failure is a result for this frame, not a crash
        return FrameResult(index, FrameStatus.FAILED, QuarantineReason.PIXEL_DECODE_FAILED,
                           detail=f"Unable to decode frame {index} as {type(exc).__name__} was raised")
    return FrameResult(
        index, FrameStatus.KEPT, reason, transfer_syntax=source.transfer_syntax,
        photometric_interpretation=source.attributes.photometric_interpretation, data=encoded,
        raw_size=frame.nbytes, crc32=frame_crc32(frame),
    )


def transcode_frames(data: bytes, indices: Iterable[int] | None = None,
                     byte_range: SourceSlice | None = None) -> InstanceResult:
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
    byte_range
        Given when ``data`` holds only part of the file (see
        :func:`~medlake.dicom.frames.source.open_pixel_slice`): the frames ``indices``, consecutive.

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
        result = _transcode_frames(data, indices, byte_range)
    messages = tuple(str(w.message) for w in caught)
    LOGGER.debug("Processed %d frames (%d warnings)", len(result.frames), len(messages))
    return InstanceResult(
        result.transfer_syntax, result.attributes, result.decision, result.frames,
        result.failure, result.detail, messages,
    )


def _transcode_frames(data: bytes, indices: Iterable[int] | None, byte_range: SourceSlice | None) -> InstanceResult:
    wanted_indices = None if indices is None else list(indices)
    try:
        if byte_range is None or wanted_indices is None:
            source = open_pixel_source(data)
        else:
            source = open_pixel_slice(data, byte_range, len(wanted_indices))
    except PixelSourceError as exc:
        return InstanceResult(None, None, None, failure=exc.reason, detail=str(exc))
    except InvalidDicomError:
        return InstanceResult(None, None, None, failure=QuarantineReason.NOT_DICOM,
                              detail="Unable to read the file as it is not DICOM Part 10")
    attrs = source.attributes
    decision = decide_policy(source.transfer_syntax, attrs)
    wanted = list(range(attrs.number_of_frames)) if wanted_indices is None else wanted_indices
    # Where the source holds only the sliced frames, the frame at position p is frame wanted[p].
    positions = range(len(wanted)) if byte_range is not None else wanted
    if decision.action is PixelAction.PASS_THROUGH:
        frames: tuple[FrameResult, ...] = ()
    elif decision.action is PixelAction.KEEP_ORIGINAL:
        frames = tuple(_keep_frame(source, p, i, decision.reason) for p, i in zip(positions, wanted))
    else:
        frames = tuple(_transcode_frame(source, p, i, decision.reason) for p, i in zip(positions, wanted))
    return InstanceResult(source.transfer_syntax, attrs, decision, frames)
