"""Frame statistics against numpy's on the values in modality units (no Spark)."""

from __future__ import annotations

import numpy as np
import pytest

from medlake.features.statistics import frame_statistics, modality_values

_RNG = np.random.default_rng(15)
FRAMES = [
    ("int16 CT", _RNG.integers(-1024, 3071, (64, 48)).astype(np.int16), 1.0, -1024.0),
    ("uint16, slope 2.5", _RNG.integers(0, 4095, (31, 17)).astype(np.uint16), 2.5, 0.0),
    ("uint8 RGB, no rescale", _RNG.integers(0, 255, (8, 9, 3)).astype(np.uint8), None, None),
    ("negative slope", _RNG.integers(0, 1000, (20, 20)).astype(np.uint16), -0.5, 10.0),
    ("one sample", np.array([[7]], dtype=np.int16), 1.0, 0.0),
    ("uint32, wide range", np.array([[0, 4_000_000_000, 5]], dtype=np.uint32), None, None),
    ("float32", _RNG.normal(0, 1, (10, 10)).astype(np.float32), None, None),
]


@pytest.mark.parametrize("name, pixels, slope, intercept", FRAMES, ids=[f[0] for f in FRAMES])
def test_statistics_equal_numpy(name: str, pixels: np.ndarray, slope: float | None, intercept: float | None) -> None:
    values = modality_values(pixels, slope, intercept)
    p01, p50, p99 = np.percentile(values, [1, 50, 99])
    expected = {"min": values.min(), "max": values.max(), "mean": values.mean(), "std": values.std(),
                "p01": p01, "p50": p50, "p99": p99}
    assert frame_statistics(pixels, slope, intercept) == pytest.approx(expected, rel=1e-12, abs=1e-9)
