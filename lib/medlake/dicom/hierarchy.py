"""Series and study rows aggregated from ``dicom.instance`` rows with Spark.

An attribute that the instances of a series (or study) agree on is copied to its row; where they
hold different values the column is null and its name is listed in ``disagreeing_attributes`` —
a disagreement is never resolved by picking one value (``dicom.image_set`` shows the split).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["SERIES_ATTRIBUTES", "STUDY_ATTRIBUTES", "aggregate_series", "aggregate_studies"]

#: ``dicom.instance`` columns copied to ``dicom.series`` where the series' instances agree.
SERIES_ATTRIBUTES = ("study_instance_uid", "modality", "series_number", "series_description",
                     "body_part_examined", "manufacturer", "manufacturer_model_name")
#: ``dicom.instance`` columns copied to ``dicom.study`` where the study's instances agree.
STUDY_ATTRIBUTES = ("patient_id", "issuer_of_patient_id", "patient_name", "patient_birth_date", "patient_sex",
                    "study_date", "study_time_raw", "accession_number", "study_description",
                    "referring_physician_name")

# (0008,0023) Content Date and (0008,0033) Content Time in the DICOM JSON.
_CONTENT_DATE = "$.00080023.Value[0]"
_CONTENT_TIME = "$.00080033.Value[0]"


def _content_time() -> "Column":
    """Return Content Date + Time as a timestamp; null where either is missing or not valid.

    A TM value may be partial (``HH``, ``HHMM``) and have a fraction: the seconds part is padded
    with zeros and the fraction dropped.
    """
    from pyspark.sql import functions as F

    date = F.get_json_object("dicom_json", _CONTENT_DATE)
    time = F.rpad(F.substring_index(F.get_json_object("dicom_json", _CONTENT_TIME), ".", 1), 6, "0")
    return F.try_to_timestamp(F.concat(date, time), F.lit("yyyyMMddHHmmss"))


def _frames() -> "Column":
    from pyspark.sql import functions as F

    return F.when(F.col("has_pixel_data"), F.coalesce(F.col("number_of_frames"), F.lit(1))).otherwise(0)


def _agreed(attributes: Sequence[str]) -> list["Column"]:
    """Return one aggregate per attribute (its value where all non-null values agree) and the list of
    attributes that disagree."""
    from pyspark.sql import functions as F

    agreed = [F.when(F.count_distinct(name) <= 1, F.max(name)).alias(name) for name in attributes]
    disagreeing = F.array_compact(F.array(*[F.when(F.count_distinct(name) > 1, F.lit(name))
                                            for name in attributes]))
    return [*agreed, disagreeing.alias("disagreeing_attributes")]


def _sizes() -> list["Column"]:
    from pyspark.sql import functions as F

    return [F.count("*").alias("instance_count"), F.sum("_frames").cast("bigint").alias("frame_count"),
            F.sum("file_size").cast("bigint").alias("total_bytes"),
            F.min("_content_time").alias("first_content_time"), F.max("_content_time").alias("last_content_time")]


def _prepared(instances: "DataFrame") -> "DataFrame":
    return instances.withColumns({"_frames": _frames(), "_content_time": _content_time()})


def aggregate_series(instances: "DataFrame") -> "DataFrame":
    """Return one row per series of ``instances`` (``dicom.instance`` rows), without bookkeeping columns.

    Parameters
    ----------
    instances
        Every instance of the series to aggregate (a series is aggregated from the rows given only).

    Returns
    -------
    DataFrame
        The columns of ``dicom.series`` except ``run_id`` and ``updated_at``.
    """
    return (_prepared(instances).groupBy("series_instance_uid")
            .agg(*_agreed(SERIES_ATTRIBUTES), *_sizes()))


def aggregate_studies(instances: "DataFrame") -> "DataFrame":
    """Return one row per study of ``instances`` (``dicom.instance`` rows), without bookkeeping columns.

    Parameters
    ----------
    instances
        Every instance of the studies to aggregate.

    Returns
    -------
    DataFrame
        The columns of ``dicom.study`` except ``run_id`` and ``updated_at``.
    """
    from pyspark.sql import functions as F

    modalities = F.array_sort(F.collect_set("modality")).alias("modalities_in_study")
    return (_prepared(instances).groupBy("study_instance_uid")
            .agg(*_agreed(STUDY_ATTRIBUTES), modalities,
                 F.count_distinct("series_instance_uid").alias("series_count"), *_sizes())
            .select("study_instance_uid", *STUDY_ATTRIBUTES, "modalities_in_study", "disagreeing_attributes",
                    "series_count", "instance_count", "frame_count", "total_bytes", "first_content_time",
                    "last_content_time"))
