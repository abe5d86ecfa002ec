"""Statistics of one decoded frame, in modality units where Rescale Slope and Intercept apply."""

from __future__ import annotations

import numpy as np

__all__ = ["STATISTICS", "frame_statistics", "modality_values", "modality_unit"]

#: The statistics of :func:`frame_statistics`, in ``ml.image_features`` column order.
STATISTICS = ("min", "max", "mean", "std", "p01", "p50", "p99")


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


def frame_statistics(pixels: np.ndarray, slope: float | None = None,
                     intercept: float | None = None) -> dict[str, float]:
    """Return min, max, mean, standard deviation and the 1st, 50th and 99th percentiles of a frame.

    Every sample counts (all channels of a colour frame). Percentiles interpolate linearly
    between samples (numpy's default); the standard deviation is the population one (``ddof=0``).

    Examples
    --------
    >>> stats = frame_statistics(np.arange(101, dtype=np.int16).reshape(1, 101), 2.0, -100.0)
    >>> stats["min"], stats["max"], stats["p50"], stats["p01"]
    (-100.0, 100.0, 0.0, -98.0)
    """
    values = modality_values(pixels, slope, intercept)
    p01, p50, p99 = np.percentile(values, [1.0, 50.0, 99.0])
    return {"min": float(values.min()), "max": float(values.max()), "mean": float(values.mean()),
            "std": float(values.std()), "p01": float(p01), "p50": float(p50), "p99": float(p99)}
