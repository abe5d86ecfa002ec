"""A frame loader for training code: frames of a query as numpy arrays with their metadata.

:class:`FrameLoader` streams rows with ``DataFrame.toLocalIterator`` (one partition at a time on
the driver, not the whole result) and decodes each frame on the driver with
:func:`medlake.dicom.frames.stored.decode_stored_row`. It is a plain iterable, so PyTorch takes it
without medlake importing PyTorch::

    class CTFrames(torch.utils.data.IterableDataset):
        def __iter__(self):
            return (torch.from_numpy(f.pixels) for f in FrameLoader(ct_frames(spark)))

Use ``DataLoader(..., num_workers=0)``: the Spark session lives in this process.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from medlake.dicom.frames.stored import DECODE_COLUMNS, decode_stored_row
from medlake.features.statistics import modality_values
from medlake.features.tables import IMAGE_FEATURES, IMAGE_FEATURES_KEYS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["FrameLoader", "LoadedFrame", "feature_frames"]

#: Metadata columns :func:`feature_frames` adds to every frame.
_FEATURE_COLUMNS = ("patient_key", "modality", "body_part_examined", "study_date", "rescale_slope",
                    "rescale_intercept", "unit")


@dataclass(frozen=True)
class LoadedFrame:
    """One decoded frame and the other columns of its row."""

    pixels: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)


def feature_frames(spark: "SparkSession", where: str | None = None) -> "DataFrame":
    """Return ``dicom.frame`` rows with their ``ml.image_features`` metadata, optionally filtered.

    Examples
    --------
    >>> ct = feature_frames(spark, "modality = 'CT' AND patient_key IS NOT NULL")  # doctest: +SKIP
    >>> next(iter(FrameLoader(ct, modality_units=True))).pixels.dtype  # doctest: +SKIP
    dtype('float64')
    """
    from medlake.dicom.frames.table import FRAME_TABLE

    features = spark.table(IMAGE_FEATURES).select(*IMAGE_FEATURES_KEYS, *_FEATURE_COLUMNS)
    frames = spark.table(FRAME_TABLE).join(features, list(IMAGE_FEATURES_KEYS))
    return frames.where(where) if where else frames


class FrameLoader:
    """Iterate the stored frames of a DataFrame of ``dicom.frame`` rows, in a fixed order.

    Parameters
    ----------
    frames
        Rows with the columns a decode needs (:data:`~medlake.dicom.frames.stored.DECODE_COLUMNS`),
        e.g. ``spark.table("dicom.frame")`` or :func:`feature_frames`. Frames with nothing stored
        (pass-through) are skipped.
    metadata
        Columns to return with each frame; default every column but the stored bytes.
    modality_units
        Return ``pixels * rescale_slope + rescale_intercept`` as float64 (needs those columns, as
        :func:`feature_frames` gives them); otherwise the stored values in their own dtype.

    Examples
    --------
    >>> for frame in FrameLoader(spark.table("dicom.frame"), metadata=["sop_instance_uid"]):  # doctest: +SKIP
    ...     frame.pixels.shape, frame.metadata
    ((64, 64), {'sop_instance_uid': '2.25.1...'})
    """

    def __init__(self, frames: "DataFrame", *, metadata: Sequence[str] | None = None,
                 modality_units: bool = False) -> None:
        missing = [name for name in DECODE_COLUMNS if name not in frames.columns]
        if missing:
            raise ValueError(f"'frames' must have the columns a decode needs; it lacks {missing}")
        if modality_units and not {"rescale_slope", "rescale_intercept"} <= set(frames.columns):
            raise ValueError("'modality_units' needs the columns rescale_slope and rescale_intercept "
                             "(use feature_frames)")
        self._metadata = list(metadata) if metadata is not None else [c for c in frames.columns if c != "data"]
        self._modality_units = modality_units
        order = [c for c in IMAGE_FEATURES_KEYS if c in frames.columns]
        rescale = ["rescale_slope", "rescale_intercept"] if modality_units else []
        columns = list(dict.fromkeys([*DECODE_COLUMNS, *self._metadata, *rescale]))
        self._frames = frames.where("data IS NOT NULL").select(*columns).orderBy(*order)

    def __iter__(self) -> Iterator[LoadedFrame]:
        for row in self._frames.toLocalIterator(prefetchPartitions=False):
            pixels = decode_stored_row([row[name] for name in DECODE_COLUMNS])
            if pixels is None:
                continue
            if self._modality_units:
                pixels = modality_values(pixels, row["rescale_slope"], row["rescale_intercept"])
            yield LoadedFrame(pixels, {name: row[name] for name in self._metadata})
