"""Statistics of one decoded frame, in modality units where Rescale Slope and Intercept apply.

Integer frames (all that ``dicom.frame`` stores) are counted in a histogram of their stored values
(:func:`numpy.bincount`), which gives min, max, mean, standard deviation and exact percentiles in
one pass, about twenty times faster than sorting a float copy; the rescale is then applied to the
statistics, not to every sample. Frames of very wide value ranges, and float frames, go through
:func:`numpy.percentile`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["STATISTICS", "frame_statistics", "modality_values", "modality_unit"]

#: The statistics of :func:`frame_statistics`, in ``ml.image_features`` column order.
STATISTICS = ("min", "max", "mean", "std", "p01", "p50", "p99")
_PERCENTILES = (1.0, 50.0, 99.0)
#: Histograms of at most this many bins (or of at most one bin per sample) are cheaper than a sort.
_MAX_HISTOGRAM_BINS = 1 << 20


def modality_values(pixels: np.ndarray, slope: float | None, intercept: float | None) -> np.ndarray:
    """Return the frame in modality units: ``pixels * slope + intercept`` (float64), or the stored
    values (as float64) where the instance has no (0028,1053) 'Rescale Slope' nor (0028,1052)
    'Rescale Intercept'.

    Examples
    --------
    >>> modality_values(np.array([0, 1024], dtype=np.uint16), 1.0, -1024.0).tolist()
    [-1024.0, 0.0]
    """
    values = pixels.astype(np.float64)
    if slope is None and intercept is None:
        return values
    return values * (1.0 if slope is None else slope) + (0.0 if intercept is None else intercept)


def modality_unit(modality: str | None, rescale_type: str | None, rescaled: bool) -> str | None:
    """Return the unit of :func:`modality_values`: (0028,1054) 'Rescale Type', else ``HU`` for CT
    and ``US`` (unspecified) for other rescaled images; None for stored values.

    Examples
    --------
    >>> modality_unit("CT", None, True), modality_unit("MR", None, False), modality_unit("PT", "BQML", True)
    ('HU', None, 'BQML')
    """
    if not rescaled:
        return None
    return rescale_type or ("HU" if modality == "CT" else "US")


def _stored_statistics(pixels: np.ndarray) -> list[float]:
    """Return :data:`STATISTICS` of the stored values."""
    flat = pixels.ravel()
    low, high = flat.min(), flat.max()
    if not np.issubdtype(flat.dtype, np.integer) or int(high) - int(low) >= max(_MAX_HISTOGRAM_BINS, flat.size):
        values = flat.astype(np.float64)
        return [float(low), float(high), float(values.mean()), float(values.std()),
                *(float(p) for p in np.percentile(values, _PERCENTILES))]
    counts = np.bincount(flat.astype(np.int64) - int(low))
    levels = np.arange(int(low), int(high) + 1, dtype=np.float64)
    mean = float(counts @ levels) / flat.size
    std = float(np.sqrt(counts @ (levels - mean) ** 2 / flat.size))
    ends = np.cumsum(counts)  # ends[i]: samples at or below level i

    def at(rank: int) -> float:  # the value at a 0-based position of the sorted samples
        return float(levels[np.searchsorted(ends, rank, side="right")])

    percentiles = []
    for q in _PERCENTILES:  # numpy's default: linear between the two neighbouring positions
        rank = q / 100.0 * (flat.size - 1)
        below = int(np.floor(rank))
        lower, upper = at(below), at(min(below + 1, flat.size - 1))
        percentiles.append(lower + (upper - lower) * (rank - below))
    return [float(low), float(high), mean, std, *percentiles]


def frame_statistics(pixels: np.ndarray, slope: float | None = None,
                     intercept: float | None = None) -> dict[str, float]:
    """Return min, max, mean, standard deviation and the 1st, 50th and 99th percentiles of a frame.

    Every sample counts (all channels of a colour frame), in modality units (see
    :func:`modality_values`). Percentiles interpolate linearly between samples and the standard
    deviation is the population one (``ddof=0``), as numpy's defaults; values equal numpy's on
    :func:`modality_values` up to float rounding.

    Examples
    --------
    >>> stats = frame_statistics(np.arange(101, dtype=np.int16).reshape(1, 101), 2.0, -100.0)
    >>> stats["min"], stats["max"], stats["p50"], stats["p01"]
    (-100.0, 100.0, 0.0, -98.0)
    >>> frame_statistics(np.array([[0, 10]], dtype=np.uint8), -1.0)["min"]
    -10.0
    """
    low, high, mean, std, p01, p50, p99 = _stored_statistics(pixels)
    scale = 1.0 if slope is None else slope
    shift = 0.0 if intercept is None else intercept
    if scale < 0:  # a negative slope turns the order around
        low, high, p01, p99 = high, low, p99, p01
    return {"min": low * scale + shift, "max": high * scale + shift, "mean": mean * scale + shift,
            "std": std * abs(scale), "p01": p01 * scale + shift, "p50": p50 * scale + shift,
            "p99": p99 * scale + shift}
