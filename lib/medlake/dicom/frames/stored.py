"""Frames from ``dicom.frame``: one frame's stored bytes by ID, decoded to numpy, in a notebook or on executors.

:func:`get_frame` fetches a frame by image set ID and frame ID (as HealthImaging's
``GetImageFrame`` does) or by SOP Instance UID and frame number; :func:`decode_stored_frame`
turns it into an array with the dtype and shape pydicom gives the source's frame (``raw=True``:
YCbCr stays YCbCr; HTJ2K frames coded with the reversible colour transform come back as RGB).
HTJ2K codestreams are decoded with OpenJPH, kept lossy frames with pydicom's decoder for their
transfer syntax. :func:`decoded_pixels` is a pandas UDF doing the same on executors; its bytes
have the CRC32 stored in ``dicom.frame``, so ``crc32(decoded_pixels(...)) = crc32`` checks frames
in SQL.

Examples
--------
>>> frame = get_frame(spark, sop_instance_uid="1.2.3", frame_number=1)  # doctest: +SKIP
>>> decode_stored_frame(frame).shape  # doctest: +SKIP
(128, 128)
>>> df = spark.table("dicom.frame")  # doctest: +SKIP
>>> df.where(F.crc32(decoded_pixels(df)) != df.crc32).count()  # doctest: +SKIP
0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydicom.encaps import encapsulate
from pydicom.pixels import get_decoder
from pydicom.uid import HTJ2K, HTJ2KLossless, HTJ2KLosslessRPCL

from medlake.dicom.frames.table import FRAME_TABLE
from medlake.dicom.frames.htj2k import decode_htj2k_frame
from medlake.dicom.frames.source import conform_frame

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = [
    "DECODE_COLUMNS", "StoredFrame", "decode_stored_bytes", "decode_stored_row", "decode_stored_frame",
    "decoded_pixels", "get_frame",
]

_HTJ2K_SYNTAXES = frozenset({HTJ2KLossless, HTJ2KLosslessRPCL, HTJ2K})
#: The ``dicom.frame`` columns a decode needs, in :func:`decode_stored_bytes` order.
DECODE_COLUMNS = ("data", "transfer_syntax_uid", "photometric_interpretation", "rows", "columns",
                   "samples_per_pixel", "bits_allocated", "bits_stored", "signed")


@dataclass(frozen=True)
class StoredFrame:
    """One ``dicom.frame`` row's identity, layout and stored bytes."""

    image_set_id: str | None
    frame_id: str
    sop_instance_uid: str
    frame_number: int
    action: str
    transfer_syntax_uid: str | None
    photometric_interpretation: str | None
    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    crc32: int | None
    data: bytes | None


def get_frame(
    spark: "SparkSession",
    *,
    image_set_id: str | None = None,
    frame_id: str | None = None,
    sop_instance_uid: str | None = None,
    frame_number: int | None = None,
) -> StoredFrame:
    """Return one stored frame, by (image set ID, frame ID) or by (SOP Instance UID, frame number).

    Parameters
    ----------
    spark
        The session.
    image_set_id, frame_id
        HealthImaging-style identifiers (``frame_id`` from ``dicom.frame``).
    sop_instance_uid, frame_number
        DICOM identifiers; frame numbers start at 1.

    Returns
    -------
    StoredFrame
        The frame; ``data`` is ``None`` for pixel data that passed through.

    Raises
    ------
    ValueError
        If neither pair (or both) is given, or no frame matches.
    """
    from pyspark.sql import functions as F

    by_id = image_set_id is not None and frame_id is not None
    by_uid = sop_instance_uid is not None and frame_number is not None
    if by_id == by_uid:
        raise ValueError("Give either 'image_set_id' and 'frame_id' or 'sop_instance_uid' and 'frame_number'")
    table = spark.table(FRAME_TABLE)
    condition: Any
    if by_id:
        condition = (F.col("image_set_id") == image_set_id) & (F.col("frame_id") == frame_id)
    else:
        condition = (F.col("sop_instance_uid") == sop_instance_uid) & (F.col("frame_number") == frame_number)
    fields = list(StoredFrame.__dataclass_fields__)
    row = table.where(condition).select(*fields).first()
    if row is None:
        raise ValueError("Unable to get the frame as dicom.frame has no frame with these identifiers")
    values = row.asDict()
    values["data"] = None if values["data"] is None else bytes(values["data"])
    return StoredFrame(**values)


def decode_stored_bytes(
    data: bytes,
    transfer_syntax_uid: str,
    photometric_interpretation: str,
    rows: int,
    columns: int,
    samples_per_pixel: int,
    bits_allocated: int,
    bits_stored: int,
    signed: bool,
) -> np.ndarray:
    """Decode one stored frame (HTJ2K codestream or kept original encoding) to an array.

    Parameters
    ----------
    data
        The stored bytes of one frame.
    transfer_syntax_uid
        Their transfer syntax.
    photometric_interpretation
        Their Photometric Interpretation.
    rows, columns, samples_per_pixel, bits_allocated, bits_stored, signed
        The frame's layout, as in ``dicom.frame``.

    Returns
    -------
    numpy.ndarray
        (rows, columns[, samples]) in the container dtype of ``bits_allocated``, values within
        ``bits_stored`` bits (sign-extended if signed).

    Raises
    ------
    ValueError
        If the bytes do not decode to the expected layout.

    Examples
    --------
    >>> from medlake.dicom.frames.htj2k import encode_htj2k_frame
    >>> frame = np.arange(12, dtype=np.uint16).reshape(3, 4) * 300
    >>> decoded = decode_stored_bytes(encode_htj2k_frame(frame, 12, False), HTJ2KLosslessRPCL,
    ...                              "MONOCHROME2", 3, 4, 1, 16, 12, False)
    >>> decoded.dtype, bool((decoded == frame).all())
    (dtype('uint16'), True)
    """
    if transfer_syntax_uid in _HTJ2K_SYNTAXES:
        return decode_htj2k_frame(data, rows, columns, samples_per_pixel, bits_stored, signed,
                            bits_allocated=bits_allocated)
    options: dict[str, Any] = {
        "rows": rows, "columns": columns, "samples_per_pixel": samples_per_pixel,
        "bits_allocated": bits_allocated, "bits_stored": bits_stored, "pixel_representation": int(signed),
        "photometric_interpretation": photometric_interpretation, "number_of_frames": 1,
        "planar_configuration": 0,
    }
    try:
        decoded, _ = get_decoder(transfer_syntax_uid).as_array(encapsulate([data]), raw=True, **options)
    except (NotImplementedError, RuntimeError, ValueError) as error:
        raise ValueError(f"Unable to decode the frame as {type(error).__name__} was raised") from error
    return conform_frame(decoded, bits_stored, signed)


def decode_stored_frame(frame: StoredFrame) -> np.ndarray:
    """Decode a :class:`StoredFrame` to an array (see :func:`decode_stored_bytes`).

    Raises
    ------
    ValueError
        If nothing is stored for the frame (its pixel data passed through) or it does not decode.
    """
    if frame.data is None or frame.transfer_syntax_uid is None:
        raise ValueError(f"Unable to decode the frame as nothing is stored for it (action {frame.action})")
    return decode_stored_bytes(
        frame.data, frame.transfer_syntax_uid, frame.photometric_interpretation or "", frame.rows,
        frame.columns, frame.samples_per_pixel, frame.bits_allocated, frame.bits_stored, frame.signed,
    )


def decode_stored_row(values: Sequence[Any]) -> np.ndarray | None:
    """Decode one frame from its :data:`DECODE_COLUMNS` values, in that order (a Row, a tuple).

    Returns ``None`` where nothing is stored (pass-through frames); see :func:`decode_stored_bytes`.
    """
    data, syntax, pi, rows, cols, samples, allocated, stored, signed = values
    if data is None or syntax is None:
        return None
    return decode_stored_bytes(bytes(data), syntax, pi or "", int(rows), int(cols), int(samples),
                              int(allocated), int(stored), bool(signed))


def _decode_series(*columns: pd.Series) -> pd.Series:
    """Decode each row's frame to its little-endian pixel bytes (None where nothing is stored)."""
    out: list[bytes | None] = []
    for values in zip(*columns):
        array = decode_stored_row(values)
        out.append(None if array is None else array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
    return pd.Series(out, dtype=object)


def decoded_pixels(frames: "DataFrame") -> "Column":
    """Return a column of each frame's decoded pixels, decoded on executors by a pandas UDF.

    The value is the frame's samples as little-endian bytes of the container dtype, samples
    interleaved, rows in order; ``numpy.frombuffer(value, dtype).reshape(rows, columns[, samples])``
    gives the array. Its CRC32 is the frame's ``crc32``. ``None`` for frames that passed through.

    Parameters
    ----------
    frames
        ``dicom.frame`` or a selection of it with the columns the decode needs.

    Examples
    --------
    >>> df = spark.table("dicom.frame")  # doctest: +SKIP
    >>> df.select("frame_id", decoded_pixels(df).alias("pixels"))  # doctest: +SKIP
    """
    from pyspark.sql.functions import pandas_udf

    udf: Any = pandas_udf(_decode_series, "binary")  # type: ignore[call-overload]
    return udf(*[frames[name] for name in DECODE_COLUMNS])
