"""Decode a stored HTJ2K frame to a numpy array, from a notebook or inside a Spark pandas UDF.

Decoding uses OpenJPH (imagecodecs), the fastest decoder installed and the only one that reads
every precision OpenJPH writes, including 32-bit. The array's dtype follows *Bits Stored* and
signedness as pydicom would return them: (u)int8 up to 8 bits, (u)int16 up to 16, (u)int32
above, unless ``bits_allocated`` asks for a wider container.
"""

from __future__ import annotations

import imagecodecs
import numpy as np

__all__ = ["frame_dtype", "decode_frame"]


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


def decode_frame(
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
    >>> from medlake.dicom.htj2k import encode_htj2k_frame
    >>> frame = (np.arange(30, dtype=np.int16) - 2048).reshape(5, 6)
    >>> out = decode_frame(encode_htj2k_frame(frame, 12, True), 5, 6, 1, 12, True)
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
