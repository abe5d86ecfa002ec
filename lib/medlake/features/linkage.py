"""FHIR <-> DICOM linkage (``ml.imaging_link``): which patient and which ImagingStudy a DICOM study is.

* Patient: a study's (0010,0020) 'Patient ID' with (0010,0021) 'Issuer of Patient ID' equals one
  ``Patient.identifier`` value with its system. An identifier that several patients share links
  to none of them (``ambiguous``). A study whose identifier finds nobody takes the subject of its
  ImagingStudy, if it has one (``imaging_study``). A study without an issuer does not link by
  identifier: a bare medical record number is not unique across issuers.
* ImagingStudy: an ``identifier`` whose value is ``urn:oid:<StudyInstanceUID>`` (any system; FHIR
  R4 uses ``urn:dicom:uid``), else a ``series.uid`` that is a series of the study.

One row per (DICOM study, ImagingStudy) pair, plus a row per study without an ImagingStudy and per
ImagingStudy without a DICOM study in the lake (``no_dicom``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from medlake.dicom.tables import DICOM_SERIES, DICOM_STUDY
from medlake.features.facts import patient_reference, read_dicom, read_fhir

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["build_imaging_link", "link_counts"]

_OID_PREFIX = "urn:oid:"


def _patients_by_identifier(spark: "SparkSession") -> "DataFrame":
    """Return (system, value) -> the one patient holding it, or ``ambiguous`` where several do."""
    from pyspark.sql import functions as F

    identifiers = (read_fhir(spark, "Patient")
                   .select(F.col("id").alias("holder"), F.explode("identifier").alias("i"))
                   .select("holder", F.col("i.system").alias("system"), F.col("i.value").alias("value"))
                   .where("system IS NOT NULL AND value IS NOT NULL"))
    return (identifiers.groupBy("system", "value")
            .agg(F.countDistinct("holder").alias("holders"), F.min("holder").alias("holder"))
            .select("system", "value", F.when(F.col("holders") == 1, F.col("holder")).alias("by_identifier"),
                    (F.col("holders") > 1).alias("ambiguous")))


def _imaging_studies(spark: "SparkSession", uids: "DataFrame") -> "DataFrame":
    """Return every ImagingStudy with its subject and the DICOM study it names, if in the lake."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    imaging = read_fhir(spark, "ImagingStudy").select(
        F.col("id").alias("imaging_study_id"), patient_reference(F.col("subject.reference")).alias("subject"),
        "identifier", "series")
    named = (imaging.select("imaging_study_id", F.explode("identifier.value").alias("value"))
             .where(F.col("value").startswith(_OID_PREFIX))
             .select("imaging_study_id", F.substring("value", len(_OID_PREFIX) + 1, 64).alias("study_instance_uid"),
                     F.lit("identifier").alias("imaging_study_match"), F.lit(1).alias("rank")))
    series = read_dicom(spark, DICOM_SERIES).select(F.col("series_instance_uid").alias("uid"), "study_instance_uid")
    by_series = (imaging.select("imaging_study_id", F.explode("series.uid").alias("uid"))
                 .join(series, "uid").select("imaging_study_id", "study_instance_uid",
                                             F.lit("series_uid").alias("imaging_study_match"), F.lit(2).alias("rank")))
    candidates = named.unionByName(by_series).join(uids, "study_instance_uid", "left_semi")
    first = Window.partitionBy("imaging_study_id").orderBy("rank", "study_instance_uid")
    chosen = (candidates.withColumn("n", F.row_number().over(first)).where("n = 1")
              .select("imaging_study_id", "study_instance_uid", "imaging_study_match"))
    return imaging.select("imaging_study_id", "subject").join(chosen, "imaging_study_id", "left")


def build_imaging_link(spark: "SparkSession") -> "DataFrame":
    """Return the rows of ``ml.imaging_link`` (see the module docstring), in its column order."""
    from pyspark.sql import functions as F

    studies = read_dicom(spark, DICOM_STUDY).select("study_instance_uid", "patient_id", "issuer_of_patient_id",
                                                     "study_date")
    holders = _patients_by_identifier(spark)
    by_identifier = (studies.alias("d").join(
        holders.alias("p"), (F.col("d.issuer_of_patient_id") == F.col("p.system"))
        & (F.col("d.patient_id") == F.col("p.value")), "left")
        .select("d.study_instance_uid", "d.study_date", "p.by_identifier", "p.ambiguous"))
    imaging = _imaging_studies(spark, studies.select("study_instance_uid"))
    link = by_identifier.join(imaging, "study_instance_uid", "full_outer")
    patient_id = F.coalesce("by_identifier", "subject")
    link_id = F.concat_ws("|", F.coalesce("study_instance_uid", F.lit("")), F.coalesce("imaging_study_id", F.lit("")))
    return link.select(
        link_id.alias("link_id"), "study_instance_uid", "imaging_study_id", patient_id.alias("patient_id"),
        F.when(F.col("study_instance_uid").isNull(), "no_dicom").when(patient_id.isNotNull(), "linked")
        .otherwise("no_patient").alias("status"),
        F.when(F.col("by_identifier").isNotNull(), "identifier").when(F.col("subject").isNotNull(), "imaging_study")
        .when(F.col("ambiguous"), "ambiguous").otherwise("none").alias("patient_match"),
        "imaging_study_match",
        F.when(F.col("by_identifier").isNotNull() & F.col("subject").isNotNull(),
               F.col("by_identifier") == F.col("subject")).alias("subject_agrees"),
        "study_date",
    )


def link_counts(link: "DataFrame") -> dict[str, int]:
    """Return the linkage counts of the run's summary line, from one aggregation over ``link``."""
    row = link.selectExpr(
        "count(DISTINCT study_instance_uid) AS studies",
        "count(DISTINCT CASE WHEN status = 'linked' THEN study_instance_uid END) AS studies_linked",
        "count(DISTINCT CASE WHEN status = 'no_patient' THEN study_instance_uid END) AS studies_unlinked",
        "count(DISTINCT imaging_study_id) AS imaging_studies",
        "count(CASE WHEN status = 'no_dicom' THEN 1 END) AS imaging_studies_without_dicom",
    ).first()
    return {name: int(value or 0) for name, value in (row.asDict() if row else {}).items()}
