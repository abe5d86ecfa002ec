"""A source instance's pixel data: what to do with it (the policy) and how to decode one frame at a time.

The transcoding policy follows AWS HealthImaging: lossless sources become lossless HTJ2K, sources
whose transfer syntax allows lossy compression keep their original encoding (re-encoding them
would only make them larger), and what cannot be transcoded passes through unchanged. Every
decision carries a stable reason.

Frames are decoded one at a time with pydicom (and pylibjpeg for JPEG, JPEG-LS and JPEG 2000),
with ``raw=True`` so that YCbCr data is never converted to RGB behind the caller's back, then
conformed to *Bits Stored* and *Pixel Representation* so that an encoder that takes its
precision from the dtype sees exactly the stored values. pydicom's warnings are not caught here:
they can quote element values, so the caller records them with its result row.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from io import BytesIO

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, get_frame
from pydicom.pixels import iter_pixels
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
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    MPEGTransferSyntaxes,
    UID,
    RLELossless,
    UncompressedTransferSyntaxes,
)

from medlake.quarantine import QuarantineReason

__all__ = [
    "PixelSourceError",
    "PixelAction",
    "PolicyReason",
    "PolicyDecision",
    "PixelAttributes",
    "PixelSource",
    "LOSSLESS_SOURCES",
    "LOSSY_SOURCES",
    "read_pixel_attributes",
    "decide_policy",
    "SourceSlice",
    "open_pixel_slice",
    "open_pixel_source",
    "iter_source_frames",
    "decode_source_frame",
    "encoded_source_frame",
    "conform_frame",
    "decoded_photometric_interpretation",
]


class PixelAction(StrEnum):
    """What happens to an instance's pixel data."""

    TRANSCODE = "transcode"
    KEEP_ORIGINAL = "keep_original"
    PASS_THROUGH = "pass_through"


class PolicyReason(StrEnum):
    """Why the action was chosen; stable values that tables and tests filter on."""

    LOSSLESS_SOURCE = "lossless_source"
    LOSSY_JPEG = "lossy_jpeg"
    LOSSY_JPEG_LS = "lossy_jpeg_ls"
    LOSSY_JPEG_2000 = "lossy_jpeg_2000"
    LOSSY_HTJ2K = "lossy_htj2k"
    VIDEO = "video_transfer_syntax"
    FLOAT_PIXEL_DATA = "float_pixel_data"
    UNSUPPORTED_TRANSFER_SYNTAX = "unsupported_transfer_syntax"
    UNSUPPORTED_PIXEL_LAYOUT = "unsupported_pixel_layout"


#: Transfer syntaxes whose pixel data is decoded and re-encoded as lossless HTJ2K.
LOSSLESS_SOURCES: frozenset[str] = frozenset({
    ImplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    RLELossless,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEG2000Lossless,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
})

#: Transfer syntaxes that allow lossy compression, with the reason they keep their encoding.
#: JPEG 2000 (.91) and HTJ2K (.203) may hold lossless data too; as AWS HealthImaging does, they
#: are kept because the transfer syntax does not promise it.
LOSSY_SOURCES: dict[str, PolicyReason] = {
    JPEGBaseline8Bit: PolicyReason.LOSSY_JPEG,
    JPEGExtended12Bit: PolicyReason.LOSSY_JPEG,
    JPEGLSNearLossless: PolicyReason.LOSSY_JPEG_LS,
    JPEG2000: PolicyReason.LOSSY_JPEG_2000,
    HTJ2K: PolicyReason.LOSSY_HTJ2K,
}

_FLOAT_KEYWORDS = ("FloatPixelData", "DoubleFloatPixelData")
_PIXEL_KEYWORDS = ("PixelData", *_FLOAT_KEYWORDS)
#: Photometric Interpretations whose samples pydicom returns as RGB once decoded (the JPEG 2000
#: decoder undoes the colour transform itself).
_DECODED_AS_RGB = frozenset({"YBR_RCT", "YBR_ICT"})
#: (7FE0,0010) Pixel Data, (7FE0,0008) Float Pixel Data, (7FE0,0009) Double Float Pixel Data.
_PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})


class PixelSourceError(ValueError):
    """The pixel data cannot be interpreted; ``reason`` is the stable quarantine reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class PolicyDecision:
    """An action and the reason for it."""

    action: PixelAction
    reason: PolicyReason


@dataclass(frozen=True)
class PixelAttributes:
    """The Image Pixel module values that decoding and encoding depend on."""

    pixel_keyword: str
    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    photometric_interpretation: str
    number_of_frames: int
    planar_configuration: int

    @property
    def signed(self) -> bool:
        """Return whether the samples are two's complement integers."""
        return self.pixel_representation == 1

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """Return the shape of one decoded frame: (rows, columns[, samples])."""
        if self.samples_per_pixel == 1:
            return (self.rows, self.columns)
        return (self.rows, self.columns, self.samples_per_pixel)


@dataclass(frozen=True)
class PixelSource:
    """A parsed instance whose frames can be decoded one by one."""

    dataset: Dataset
    transfer_syntax: UID
    attributes: PixelAttributes


def _required_int(ds: Dataset, keyword: str) -> int:
    value = ds.get(keyword)
    if value is None:
        raise PixelSourceError(
            QuarantineReason.INVALID_PIXEL_ATTRIBUTES, f"Unable to read the pixel attributes as the '{keyword}' element is missing"
        )
    try:
        return int(value)
    except (TypeError, ValueError):
        # The offending value is not quoted: element values may be patient data.
        raise PixelSourceError(
            QuarantineReason.INVALID_PIXEL_ATTRIBUTES, f"Unable to read the pixel attributes as the '{keyword}' value is not an integer"
        ) from None


def read_pixel_attributes(ds: Dataset) -> PixelAttributes:
    """Return the pixel attributes of ``ds``.

    Parameters
    ----------
    ds
        A dataset with one of *Pixel Data*, *Float Pixel Data* or *Double Float Pixel Data*.

    Returns
    -------
    PixelAttributes
        The values, with *Number of Frames* defaulting to 1 and *Planar Configuration* to 0.

    Raises
    ------
    PixelSourceError
        If the dataset has no pixel data element (reason ``no_pixel_data``), or a required
        element is missing or is not an integer (reason ``invalid_pixel_attributes``).

    Examples
    --------
    >>> from pydicom import dcmread
    >>> from pydicom.data import get_testdata_file
    >>> attrs = read_pixel_attributes(dcmread(get_testdata_file("CT_small.dcm", download=False)))
    >>> attrs.frame_shape, attrs.bits_stored, attrs.signed
    ((128, 128), 16, True)
    """
    keyword = next((k for k in _PIXEL_KEYWORDS if k in ds), None)
    if keyword is None:
        raise PixelSourceError(
            QuarantineReason.NO_PIXEL_DATA, "Unable to read the pixel attributes as the dataset has no pixel data element"
        )
    frames = ds.get("NumberOfFrames")
    return PixelAttributes(
        pixel_keyword=keyword,
        rows=_required_int(ds, "Rows"),
        columns=_required_int(ds, "Columns"),
        samples_per_pixel=_required_int(ds, "SamplesPerPixel") if "SamplesPerPixel" in ds else 1,
        bits_allocated=_required_int(ds, "BitsAllocated"),
        bits_stored=_required_int(ds, "BitsStored") if keyword == "PixelData" else 0,
        pixel_representation=_required_int(ds, "PixelRepresentation") if keyword == "PixelData" else 0,
        photometric_interpretation=str(ds.get("PhotometricInterpretation", "")),
        number_of_frames=1 if frames in (None, "") else _required_int(ds, "NumberOfFrames"),
        planar_configuration=int(ds.get("PlanarConfiguration", 0) or 0),
    )


def decide_policy(transfer_syntax: str, attributes: PixelAttributes) -> PolicyDecision:
    """Decide whether an instance's pixel data is transcoded, kept or passed through.

    Parameters
    ----------
    transfer_syntax
        The instance's Transfer Syntax UID.
    attributes
        Its pixel attributes.

    Returns
    -------
    PolicyDecision
        ``transcode`` for lossless sources, ``keep_original`` for lossy-capable ones,
        ``pass_through`` for video, float pixel data and anything else that cannot be
        transcoded.

    Examples
    --------
    >>> from pydicom.uid import JPEGBaseline8Bit
    >>> attrs = PixelAttributes("PixelData", 8, 8, 3, 8, 8, 0, "YBR_FULL_422", 1, 0)
    >>> decide_policy(JPEGBaseline8Bit, attrs)
    PolicyDecision(action=<PixelAction.KEEP_ORIGINAL: 'keep_original'>, reason=<PolicyReason.LOSSY_JPEG: 'lossy_jpeg'>)
    """
    if attributes.pixel_keyword in _FLOAT_KEYWORDS:
        return PolicyDecision(PixelAction.PASS_THROUGH, PolicyReason.FLOAT_PIXEL_DATA)
    if transfer_syntax in MPEGTransferSyntaxes:
        return PolicyDecision(PixelAction.PASS_THROUGH, PolicyReason.VIDEO)
    if transfer_syntax in LOSSY_SOURCES:
        return PolicyDecision(PixelAction.KEEP_ORIGINAL, LOSSY_SOURCES[transfer_syntax])
    if transfer_syntax not in LOSSLESS_SOURCES:
        return PolicyDecision(PixelAction.PASS_THROUGH, PolicyReason.UNSUPPORTED_TRANSFER_SYNTAX)
    if attributes.samples_per_pixel not in (1, 3) or not 1 <= attributes.bits_stored <= 32:
        return PolicyDecision(PixelAction.PASS_THROUGH, PolicyReason.UNSUPPORTED_PIXEL_LAYOUT)
    return PolicyDecision(PixelAction.TRANSCODE, PolicyReason.LOSSLESS_SOURCE)


def open_pixel_source(data: bytes) -> PixelSource:
    """Parse a DICOM Part 10 file held in memory, ready for frame access.

    Parameters
    ----------
    data
        The file's bytes, as read again from the source.

    Returns
    -------
    PixelSource
        The dataset, its transfer syntax and pixel attributes.

    Raises
    ------
    PixelSourceError
        If the file meta has no Transfer Syntax UID (reason ``missing_transfer_syntax``) or the
        pixel attributes are unusable (reason ``invalid_pixel_attributes``).
    pydicom.errors.InvalidDicomError
        If the bytes are not a DICOM Part 10 file.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> path = get_testdata_file("MR_small_RLE.dcm", download=False)
    >>> with open(path, "rb") as f:
    ...     source = open_pixel_source(f.read())
    >>> source.transfer_syntax.name, source.attributes.number_of_frames
    ('RLE Lossless', 1)
    """
    ds = dcmread(BytesIO(data))
    transfer_syntax = ds.file_meta.get("TransferSyntaxUID")
    if not transfer_syntax:
        raise PixelSourceError(
            QuarantineReason.MISSING_TRANSFER_SYNTAX,
            "Unable to decode the pixel data as the file meta has no (0002,0010) 'Transfer Syntax UID' element",
        )
    return PixelSource(ds, UID(transfer_syntax), read_pixel_attributes(ds))


@dataclass(frozen=True)
class SourceSlice:
    """The bytes of a source file that some of its frames need: the data set up to their value, and their bytes.

    ``header_length`` bytes from the file's start end with the pixel data element's own header (8
    bytes in Implicit VR, 12 in Explicit VR, told apart by its bytes). ``start`` and ``end`` delimit
    the frames' bytes in the file. ``fragments`` (encapsulated pixel data) holds ``(frame, offset,
    length)`` per fragment: the frame counted from the first one sliced, the offset from ``start``;
    empty for native pixel data.
    """

    header_length: int
    start: int
    end: int
    fragments: tuple[tuple[int, int, int], ...] = ()


def _pixel_element(header: bytes) -> tuple[int, int, str | None]:
    """Return the size, tag and VR (None in Implicit VR) of the pixel data element header ending ``header``.

    The file's own encoding of the element counts (some files write it in Implicit VR inside an
    Explicit VR data set), as pydicom reads it.
    """
    for size, order in ((12, "<"), (12, ">"), (8, "<"), (8, ">")):
        if len(header) < size:
            continue
        group, number = struct.unpack(f"{order}HH", header[-size:][:4])
        vr = header[-size:][4:6]
        if group << 16 | number in _PIXEL_TAGS and (size == 8 or vr.isalpha()):
            return size, group << 16 | number, vr.decode("ascii") if size == 12 else None
    raise PixelSourceError(QuarantineReason.SOURCE_CHANGED,
                           "Unable to decode the pixel data as the source file no longer has it where it had at ingest")


def open_pixel_slice(data: bytes, byte_range: SourceSlice, frames: int) -> PixelSource:
    """Parse a :class:`SourceSlice`'s bytes (header, then frames) into a source of just those frames.

    The data set before Pixel Data is parsed as in :func:`open_pixel_source`; the frames' bytes
    become its pixel data (encapsulated again, with a Basic Offset Table, when they were), so frame
    ``i`` of the result is the ``i``-th frame sliced.

    Parameters
    ----------
    data
        ``byte_range.header_length`` bytes of the file's start, then its bytes ``start`` to ``end``.
    byte_range
        Where the bytes came from.
    frames
        How many frames the sliced bytes hold.

    Raises
    ------
    PixelSourceError
        As :func:`open_pixel_source`, and if ``data`` is shorter than the slice (reason ``source_changed``).

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> with open(get_testdata_file("CT_small.dcm", download=False), "rb") as f:
    ...     whole = f.read()
    >>> from medlake.dicom.header import read_instance
    >>> offset = read_instance(whole, "file:/CT_small.dcm").pixel_data_offset
    >>> part = SourceSlice(offset, offset, offset + 128 * 128 * 2)  # the data set, then the frame's bytes
    >>> source = open_pixel_slice(whole[:offset] + whole[part.start:part.end], part, 1)
    >>> source.attributes.frame_shape, source.dataset["PixelData"].VR
    ((128, 128), 'OW')
    """
    header, pixels = data[:byte_range.header_length], data[byte_range.header_length:]
    if len(pixels) != byte_range.end - byte_range.start:
        raise PixelSourceError(QuarantineReason.SOURCE_CHANGED,
                               "Unable to decode the pixel data as the source file is shorter than at ingest")
    element_size, tag, vr = _pixel_element(header)
    ds = dcmread(BytesIO(header[:-element_size]))
    transfer_syntax = ds.file_meta.get("TransferSyntaxUID")
    if not transfer_syntax:
        raise PixelSourceError(
            QuarantineReason.MISSING_TRANSFER_SYNTAX,
            "Unable to decode the pixel data as the file meta has no (0002,0010) 'Transfer Syntax UID' element",
        )
    if vr is None:  # Implicit VR: as pydicom resolves 'OB or OW'
        vr = "OB" if byte_range.fragments or int(ds.get("BitsAllocated", 8) or 8) <= 8 else "OW"
    if byte_range.fragments:
        frame_bytes = [b"".join(pixels[offset:offset + length] for frame, offset, length in byte_range.fragments
                                if frame == index) for index in range(frames)]
        ds.add_new(tag, vr, encapsulate(frame_bytes, has_bot=True))
        ds[tag].is_undefined_length = True
        for keyword in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
            if keyword in ds:
                del ds[keyword]
    else:
        ds.add_new(tag, vr, pixels)
    read_pixel_attributes(ds)  # the file's own values are checked before Number of Frames is set to the slice's
    if frames != 1 or "NumberOfFrames" in ds:
        ds.NumberOfFrames = frames
    return PixelSource(ds, UID(transfer_syntax), read_pixel_attributes(ds))


def conform_frame(frame: np.ndarray, bits_stored: int, signed: bool) -> np.ndarray:
    """Return ``frame`` in native byte order with only the *Bits Stored* bits, sign-extended if signed.

    Bits above *Bits Stored* (overlays, garbage) are cleared for unsigned data; signed data is
    sign-extended from bit ``bits_stored - 1``, so the values are exactly those an encoder with a
    precision of *Bits Stored* must code.

    Parameters
    ----------
    frame
        A decoded frame with an integer dtype.
    bits_stored
        The (0028,0101) 'Bits Stored' value.
    signed
        Whether (0028,0103) 'Pixel Representation' is 1.

    Returns
    -------
    numpy.ndarray
        A new array with the container dtype of ``frame`` in native byte order.

    Raises
    ------
    ValueError
        If ``bits_stored`` does not fit the dtype.

    Examples
    --------
    >>> conform_frame(np.array([0xF123], dtype=np.uint16), 12, False)
    array([291], dtype=uint16)
    >>> conform_frame(np.array([0x0FFF], dtype=np.int16), 12, True)
    array([-1], dtype=int16)
    """
    container = np.dtype(f"{'i' if signed else 'u'}{frame.dtype.itemsize}")
    bits = 8 * container.itemsize
    if not 1 <= bits_stored <= bits:
        raise ValueError(f"'bits_stored' must be between 1 and {bits} for this frame, not {bits_stored}")
    native = frame.astype(frame.dtype.newbyteorder("="), copy=True).view(container)
    shift = bits - bits_stored
    if shift:
        if signed:
            native <<= shift
            native >>= shift  # arithmetic shift: sign-extends
        else:
            native &= container.type((1 << bits_stored) - 1)
    return native


def iter_source_frames(source: PixelSource, indices: Iterable[int]) -> Iterator[np.ndarray]:
    """Yield the decoded frames at ``indices`` (0-based), each conformed to *Bits Stored*.

    Only one frame is held at a time. YCbCr data stays YCbCr (``raw=True``); subsampled native
    ``YBR_FULL_422`` data is returned at full resolution, and JPEG 2000 data with a colour
    transform (``YBR_RCT``, ``YBR_ICT``) comes back as RGB, as the codestream defines it (see
    :func:`decoded_photometric_interpretation`).

    Parameters
    ----------
    source
        The parsed instance.
    indices
        Frame indices, each in ``range(number_of_frames)``.

    Yields
    ------
    numpy.ndarray
        One frame of shape ``attributes.frame_shape``, native byte order.

    Raises
    ------
    ValueError
        If an index is out of range.
    RuntimeError
        If no installed decoder can decode the pixel data (raised by pydicom).

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> with open(get_testdata_file("SC_rgb_rle_2frame.dcm", download=False), "rb") as f:
    ...     source = open_pixel_source(f.read())
    >>> [frame.shape for frame in iter_source_frames(source, [1])]
    [(100, 100, 3)]
    """
    wanted = list(indices)
    count = source.attributes.number_of_frames
    bad = [i for i in wanted if not 0 <= i < count]
    if bad:
        raise ValueError(f"Frame indices must be in range({count}), not {bad}")
    attrs = source.attributes
    for frame in iter_pixels(source.dataset, indices=wanted, raw=True):
        yield conform_frame(frame, attrs.bits_stored, attrs.signed)


def decode_source_frame(source: PixelSource, index: int) -> np.ndarray:
    """Return the decoded frame at ``index`` (0-based); see :func:`iter_source_frames`."""
    return next(iter_source_frames(source, [index]))


def encoded_source_frame(source: PixelSource, index: int) -> bytes:
    """Return frame ``index`` (0-based) of encapsulated pixel data exactly as stored.

    Parameters
    ----------
    source
        A parsed instance with encapsulated (compressed) pixel data.
    index
        The frame index.

    Returns
    -------
    bytes
        The frame's fragments joined, without item headers.

    Raises
    ------
    ValueError
        If the pixel data is native (not encapsulated) or the frame cannot be located.
    """
    if source.transfer_syntax in UncompressedTransferSyntaxes:
        raise ValueError("Unable to return an encoded frame as the pixel data is not encapsulated")
    ds = source.dataset
    extended = None
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        extended = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    return get_frame(
        ds.PixelData, index, extended_offsets=extended,
        number_of_frames=source.attributes.number_of_frames,
    )


def decoded_photometric_interpretation(attributes: PixelAttributes) -> str:
    """Return the Photometric Interpretation of frames as :func:`iter_source_frames` yields them.

    Examples
    --------
    >>> attrs = PixelAttributes("PixelData", 8, 8, 3, 8, 8, 0, "YBR_RCT", 1, 0)
    >>> decoded_photometric_interpretation(attrs)
    'RGB'
    """
    pi = attributes.photometric_interpretation
    if pi in _DECODED_AS_RGB:
        return "RGB"
    if pi == "YBR_FULL_422":
        return "YBR_FULL"
    return pi
