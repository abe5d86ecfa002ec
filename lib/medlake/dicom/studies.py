"""The series, study and image-set stage that both DICOM jobs run after writing instances or frames.

:func:`update_studies` rebuilds ``dicom.series``, ``dicom.study`` and ``dicom.image_set`` for the
studies a run touched, from ``dicom.instance`` (and the frames ``dicom.frame`` holds, for the
``ImageFrames`` of the image set documents), so the ingest and the HTJ2K job build the same rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from medlake.config import MedlakeConfig
from medlake.dicom.frames.table import FRAME_TABLE
from medlake.dicom.hierarchy import aggregate_series, aggregate_studies
from medlake.dicom.metadata import build_image_set_rows
from medlake.dicom.tables import (
    DICOM_IMAGE_SET, DICOM_INSTANCE, DICOM_SERIES, DICOM_STUDY, image_set_schema, merge_dicom_rows,
    series_schema, study_schema,
)
from medlake.runs import Run
from medlake.tables import table_version

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["update_studies"]


def update_studies(spark: "SparkSession", config: MedlakeConfig, run: Run, touched: "DataFrame", *,
                   image_sets_only: bool = False) -> int:
    """Rebuild the series, study and image set rows of the touched studies from ``dicom.instance``.

    Image set documents get the ``ImageFrames`` of the frames ``dicom.frame`` holds, so the ingest
    and the HTJ2K job (which calls this after writing frames) build the same documents. Frames
    change only the documents: the HTJ2K job passes ``image_sets_only``.

    Returns the number of image sets the touched studies form.
    """
    with run.stage("hierarchy") as logged:
        return _update_hierarchy(spark, config, run, touched, logged, image_sets_only)


def _update_hierarchy(spark: "SparkSession", config: MedlakeConfig, run: Run, touched: "DataFrame",
                      logged: dict[str, int], image_sets_only: bool) -> int:
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    # Read once for the three tables: the touched studies' instances.
    instances = spark.table(DICOM_INSTANCE).join(F.broadcast(touched), "study_instance_uid").persist()
    levels = [] if image_sets_only else [
        merge_dicom_rows(spark, DICOM_SERIES, aggregate_series(instances), series_schema(), "series_instance_uid",
                         run.run_id),
        merge_dicom_rows(spark, DICOM_STUDY, aggregate_studies(instances), study_schema(), "study_instance_uid",
                         run.run_id),
    ]
    frames = spark.table(FRAME_TABLE) if spark.catalog.tableExists(FRAME_TABLE) else None
    image_sets = build_image_set_rows(instances, config.dicom.datastore_id, frames).persist()
    image_set_result = merge_dicom_rows(spark, DICOM_IMAGE_SET, image_sets, image_set_schema(), "image_set_id",
                                        run.run_id)
    stale = (spark.table(DICOM_IMAGE_SET).join(F.broadcast(touched), "study_instance_uid")
             .join(image_sets.select("image_set_id"), "image_set_id", "left_anti").select("image_set_id"))
    stale_ids = [row.image_set_id for row in stale.collect()]
    for result in (*levels, image_set_result):
        if result.version is not None:
            run.summary.table_versions[result.table] = result.version
    if stale_ids:  # a touched study whose instances no longer form these image sets
        DeltaTable.forName(spark, DICOM_IMAGE_SET).delete(F.col("image_set_id").isin(stale_ids))
        run.summary.table_versions[DICOM_IMAGE_SET] = table_version(spark, DICOM_IMAGE_SET)
    image_set_count = image_sets.count()
    image_sets.unpersist()
    instances.unpersist()
    logged.update({f"{result.table.split('.')[1]}_changed": result.changed for result in levels})
    logged.update(image_sets_changed=image_set_result.changed, image_sets_deleted=len(stale_ids))
    return image_set_count
