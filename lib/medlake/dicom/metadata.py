"""Image set metadata: built per study on executors, read back by image set ID.

SQL gives the same document as :func:`get_image_set_metadata`, as JSON text::

    SELECT document FROM dicom.image_set WHERE image_set_id = '<32 hex digits>'

and single values with ``get_json_object`` (keys as in the document)::

    SELECT get_json_object(document, '$.Study.DICOM.StudyDate') FROM dicom.image_set
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from medlake.dicom.imageset import ImageFrame, build_image_sets, with_all_image_frames
from medlake.dicom.tables import DICOM_IMAGE_SET

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["IMAGE_SET_COLUMNS_DDL", "build_image_set_rows", "get_image_set_metadata"]

#: The columns :func:`build_image_set_rows` returns (``dicom.image_set`` without bookkeeping).
IMAGE_SET_COLUMNS_DDL = ("image_set_id string, study_instance_uid string, is_primary boolean, "
                         "conflicting_attributes array<string>, document string")

_IMAGE_SET_ID = re.compile(r"[0-9a-f]{32}")


def _frames_of(study: "pd.DataFrame") -> dict[str, list[ImageFrame]]:
    """Parse the ``image_frames`` JSON of each instance that has stored frames."""
    return {
        sop_instance_uid: [ImageFrame(frame_id=f["frame_id"], frame_size_in_bytes=f["encoded_size"],
                                      width=f["columns"], height=f["rows"], checksum=f["crc32"])
                           for f in json.loads(text)]
        for sop_instance_uid, text in zip(study["sop_instance_uid"], study["image_frames"])
        if isinstance(text, str)
    }


def _study_image_sets(study: "pd.DataFrame", datastore_id: str) -> "pd.DataFrame":
    """Return the image set rows of one study's instances (``dicom_json``, ``image_frames``)."""
    import pandas as pd

    image_sets = build_image_sets([json.loads(text) for text in study["dicom_json"]], datastore_id)
    frames = _frames_of(study)
    documents = [with_all_image_frames(s.document, frames) if frames else s.document for s in image_sets]
    return pd.DataFrame({
        "image_set_id": [s.image_set_id for s in image_sets],
        "study_instance_uid": [s.study_instance_uid for s in image_sets],
        "is_primary": [s.is_primary for s in image_sets],
        "conflicting_attributes": [s.conflicting_attributes for s in image_sets],
        "document": [json.dumps(document, ensure_ascii=False, separators=(",", ":")) for document in documents],
    })


def _image_set_builder(datastore_id: str) -> Callable[["pd.DataFrame"], "pd.DataFrame"]:
    """Return the per-study function ``applyInPandas`` runs (typed, so PySpark reads its kind)."""

    def build(study: "pd.DataFrame") -> "pd.DataFrame":
        return _study_image_sets(study, datastore_id)

    return build


def build_image_set_rows(instances: "DataFrame", datastore_id: str, frames: "DataFrame | None" = None) -> "DataFrame":
    """Return the image sets of the studies in ``instances``, built per study on executors.

    Parameters
    ----------
    instances
        ``dicom.instance`` rows (at least ``study_instance_uid``, ``sop_instance_uid`` and
        ``dicom_json``): every instance of each study to build, one row per SOP Instance UID.
    datastore_id
        The configured data store ID (``dicom.datastore_id``).
    frames
        ``dicom.frame`` rows; the stored ones fill each instance's ``ImageFrames`` (ID, size,
        CRC32 checksum), in frame order. ``None``: no frames yet.

    Returns
    -------
    DataFrame
        Columns :data:`IMAGE_SET_COLUMNS_DDL`, one row per image set.
    """
    from pyspark.sql import functions as F

    selected = instances.select("study_instance_uid", "sop_instance_uid", "dicom_json")
    if frames is None:
        selected = selected.withColumn("image_frames", F.lit(None).cast("string"))
    else:
        per_instance = (
            frames.where(F.col("data").isNotNull())
            .groupBy("sop_instance_uid")
            .agg(F.to_json(F.array_sort(F.collect_list(F.struct(
                "frame_number", "frame_id", "encoded_size", "columns", "rows", "crc32")))).alias("image_frames"))
        )
        selected = selected.join(per_instance, "sop_instance_uid", "left")
    return selected.groupBy("study_instance_uid").applyInPandas(_image_set_builder(datastore_id),
                                                                IMAGE_SET_COLUMNS_DDL)


def get_image_set_metadata(spark: "SparkSession", image_set_id: str) -> dict[str, Any]:
    """Return the metadata document of one image set, as AWS HealthImaging's ``GetImageSetMetadata`` does.

    Parameters
    ----------
    spark
        The session.
    image_set_id
        32 hexadecimal digits (lower case).

    Returns
    -------
    dict
        ``SchemaVersion``, ``DatastoreID``, ``ImageSetID``, ``Patient``, ``Study``.

    Raises
    ------
    TypeError
        If ``image_set_id`` is not a string.
    ValueError
        If ``image_set_id`` is malformed or no image set has it.

    Examples
    --------
    >>> document = get_image_set_metadata(spark, "3f1c...")  # doctest: +SKIP
    >>> sorted(document)  # doctest: +SKIP
    ['DatastoreID', 'ImageSetID', 'Patient', 'SchemaVersion', 'Study']
    """
    from pyspark.sql import functions as F

    if not isinstance(image_set_id, str):
        raise TypeError(f"'image_set_id' must be a string, not {type(image_set_id).__name__}")
    if not _IMAGE_SET_ID.fullmatch(image_set_id):
        raise ValueError("Unable to get image set metadata as 'image_set_id' is not 32 lower-case "
                         "hexadecimal digits")
    row = (spark.table(DICOM_IMAGE_SET).where(F.col("image_set_id") == image_set_id)
           .select("document").first())
    if row is None:
        raise ValueError(f"Unable to get image set metadata as no image set has the ID {image_set_id!r}")
    document: dict[str, Any] = json.loads(row["document"])
    return document
