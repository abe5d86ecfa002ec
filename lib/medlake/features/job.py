"""The feature job: ``ml.patient_key``, ``ml.imaging_link``, ``ml.patient_features``, ``ml.image_features``."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from medlake.config import MedlakeConfig
from medlake.features.facts import parse_as_of, read_fhir
from medlake.features.images import build_image_features
from medlake.features.keys import patient_key_column, require_secret
from medlake.features.linkage import build_imaging_link, link_counts
from medlake.features.patient import build_patient_features
from medlake.features.tables import (
    IMAGE_FEATURES, IMAGE_FEATURES_KEYS, IMAGING_LINK, IMAGING_LINK_KEYS, PATIENT_FEATURES, PATIENT_KEY,
    create_ml_tables, replace_rows,
)
from medlake.runs import Run, RunSummary, start_run

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["JOB", "run_features"]

JOB = "features"


def _write(spark: "SparkSession", run: Run, table: str, rows: "DataFrame", keys: tuple[str, ...]) -> None:
    result = replace_rows(spark, table, rows, keys)
    run.summary.table_versions[table] = result.version or 0


def run_features(spark: "SparkSession", config: MedlakeConfig, as_of: date | str | None = None) -> RunSummary:
    """Build the ``ml`` tables from ``fhir.*`` and ``dicom.*`` as of a date.

    Parameters
    ----------
    spark
        The session.
    config
        The configuration (``features`` section: the key secret and ``top_conditions``).
    as_of
        Only facts recorded at or before this day (UTC) count; default: today (UTC).

    Returns
    -------
    RunSummary
        Counts: ``patients``, the linkage counts (``studies``, ``studies_linked``,
        ``studies_unlinked``, ``imaging_studies``, ``imaging_studies_without_dicom``), the
        ``frames`` of ``ml.image_features`` (``frames_decoded``, ``frames_reused``,
        ``frames_not_stored``, ``frames_decode_failed``) and ``vitals_unconvertible``.

    Raises
    ------
    ConfigError
        If ``as_of`` is not a date or no key secret is configured.

    Examples
    --------
    >>> run_features(spark, config, as_of="2024-06-30").one_line()  # doctest: +SKIP
    'medlake features succeeded run=…: patients=3, studies=4, studies_linked=4, studies_unlinked=0, …'
    """
    from pyspark.sql import functions as F

    day = parse_as_of(as_of)
    secret = require_secret(config.features)
    with start_run(spark, JOB, config.tables) as run:
        with run.stage("create tables"):
            create_ml_tables(spark, config.tables)
        with run.stage("patient keys") as logged:
            ids = read_fhir(spark, "Patient").select(F.col("id").alias("patient_id")).distinct()
            keys = ids.select(patient_key_column(F.col("patient_id"), secret).alias("patient_key"),
                              "patient_id").localCheckpoint()
            _write(spark, run, PATIENT_KEY, keys, ("patient_key",))
            logged.update(keys=keys.count())
        with run.stage("imaging link") as logged:
            link = build_imaging_link(spark).localCheckpoint()
            _write(spark, run, IMAGING_LINK, link, IMAGING_LINK_KEYS)
            counts = link_counts(link)
            logged.update(counts)
        with run.stage("patient features") as logged:
            features, codes, unconvertible = build_patient_features(spark, day, keys, link,
                                                                    config.features.top_conditions)
            _write(spark, run, PATIENT_FEATURES, features, ("patient_key",))
            patients = features.count()
            logged.update(patients=patients, conditions=len(codes))
        with run.stage("image features") as logged:
            images, frame_counts = build_image_features(spark, keys, link)
            _write(spark, run, IMAGE_FEATURES, images, IMAGE_FEATURES_KEYS)
            logged.update(frame_counts)
        run.summary.add(patients=patients, **counts, **frame_counts, vitals_unconvertible=unconvertible)
        return run.finish()
