"""``ml.patient_features``: one row per patient from the facts recorded at or before the as-of date.

Every aggregation is a ``DataFrame -> DataFrame`` step keyed by ``patient_id``; :func:`build_patient_features`
joins them onto the patients and swaps the id for its pseudonymous key. Times follow
:mod:`medlake.features.facts`; ``cutoff`` is the first instant after the as-of day.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from medlake.dicom.tables import DICOM_SERIES, DICOM_STUDY
from medlake.features.facts import LOINC, SNOMED, fact_time, patient_reference, read_dicom, read_fhir, start_time
from medlake.features.tables import ENCOUNTER_CLASSES
from medlake.features.units import BLOOD_PRESSURE_PANEL, VITALS, factor_column

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["build_patient_features", "top_conditions"]

#: Observation statuses that carry no valid value.
_VOID_STATUSES = ("entered-in-error", "cancelled")


def _years(later: "Column", earlier: "Column") -> "Column":
    """Completed years between two dates (or timestamps)."""
    from pyspark.sql import functions as F

    return F.floor(F.months_between(F.to_date(later), F.to_date(earlier)) / 12).cast("int")


def _patients(spark: "SparkSession", as_of: date, cutoff: "Column") -> "DataFrame":
    """Return ``patient_id``, ``birth``, gender, deceased and age of every patient born by the as-of date."""
    from pyspark.sql import functions as F

    patients = read_fhir(spark, "Patient").select(
        F.col("id").alias("patient_id"), "gender", start_time(F.col("birthDate")).alias("birth"),
        fact_time(F.col("deceasedDateTime")).alias("died"), "deceasedBoolean")
    died_by = F.coalesce(F.col("died") < cutoff, F.lit(False))
    deceased = died_by | F.coalesce(F.col("deceasedBoolean"), F.lit(False))
    reference = F.when(died_by, F.col("died")).otherwise(F.lit(as_of))
    return (patients.where(F.col("birth").isNull() | (F.col("birth") < cutoff))
            .select("patient_id", "birth", "gender", deceased.alias("deceased"),
                    _years(reference, F.col("birth")).alias("age_years")))


def _encounters(spark: "SparkSession", cutoff: "Column") -> "DataFrame":
    """Return encounter counts per class, all time and in the last 12 months."""
    from pyspark.sql import functions as F

    encounters = (read_fhir(spark, "Encounter")
                  .select(patient_reference(F.col("subject.reference")).alias("patient_id"),
                          F.col("class.code").alias("class"), fact_time(F.col("period.start")).alias("at"))
                  .where(F.col("at") < cutoff))
    recent = F.col("at") >= F.add_months(cutoff, -12)
    kind = F.when(F.col("class").isin(*ENCOUNTER_CLASSES), F.col("class")).otherwise("OTHER")
    counts = []
    for suffix, window in (("", F.lit(True)), ("_12m", recent)):
        for code in (*ENCOUNTER_CLASSES, "OTHER"):
            counts.append(F.count(F.when(window & (kind == code), 1)).alias(f"encounters_{code.lower()}{suffix}"))
        counts.append(F.count(F.when(window, 1)).alias(f"encounters_total{suffix}"))
    return encounters.groupBy("patient_id").agg(*counts)


def _conditions(spark: "SparkSession", cutoff: "Column") -> "DataFrame":
    """Return (patient, SNOMED code, onset) of every condition recorded before the cut-off."""
    from pyspark.sql import functions as F

    conditions = read_fhir(spark, "Condition")
    onset = F.coalesce(F.col("onsetDateTime"), F.col("onsetPeriod.start"), F.col("recordedDate"))
    recorded = fact_time(F.coalesce(F.col("recordedDate"), F.col("onsetDateTime"), F.col("onsetPeriod.start")))
    snomed = F.filter("code.coding", lambda c: c["system"] == SNOMED)[0]["code"]
    return (conditions.where(recorded < cutoff)
            .select(patient_reference(F.col("subject.reference")).alias("patient_id"), snomed.alias("code"),
                    start_time(onset).alias("onset"))
            .where("patient_id IS NOT NULL AND code IS NOT NULL"))


def top_conditions(conditions: "DataFrame", n: int) -> list[str]:
    """Return the ``n`` SNOMED CT codes held by the most patients (ties: the smaller code first)."""
    from pyspark.sql import functions as F

    if n <= 0:
        return []
    ranked = (conditions.groupBy("code").agg(F.countDistinct("patient_id").alias("patients"))
              .orderBy(F.col("patients").desc(), "code").limit(n).collect())
    return [row.code for row in ranked]


def _codes_column(codes: list[str]) -> "Column":
    from pyspark.sql import functions as F

    return F.array(*[F.lit(code) for code in codes]) if codes else F.array().cast("array<string>")


def _condition_flags(conditions: "DataFrame", patients: "DataFrame", codes: list[str]) -> "DataFrame":
    """Return per patient the ``conditions`` array: one struct per top code, in rank order."""
    from pyspark.sql import functions as F

    earliest = (conditions.where(F.col("code").isin(*codes)).groupBy("patient_id", "code")
                .agg(F.min("onset").alias("onset"))
                .join(patients.select("patient_id", "birth"), "patient_id")
                .select("patient_id", F.struct("code", _years(F.col("onset"), F.col("birth")).alias("age")).alias("c"))
                .groupBy("patient_id").agg(F.collect_list("c").alias("found")))
    flags = F.transform(_codes_column(codes), lambda code: F.struct(
        code.alias("code"), F.exists("found", lambda c: c["code"] == code).alias("present"),
        F.filter("found", lambda c: c["code"] == code)[0]["age"].alias("onset_age_years")))
    return earliest.select("patient_id", flags.alias("conditions"))


def _measurements(spark: "SparkSession", cutoff: "Column") -> "DataFrame":
    """Return every vital-sign value before the cut-off: top-level values and panel components."""
    from pyspark.sql import functions as F

    observations = (read_fhir(spark, "Observation")
                    .where(~F.coalesce(F.col("status"), F.lit("")).isin(*_VOID_STATUSES))
                    .select("id", patient_reference(F.col("subject.reference")).alias("patient_id"),
                            fact_time(F.coalesce("effectiveDateTime", "effectivePeriod.start", "effectiveInstant",
                                                 "issued")).alias("at"),
                            "code", "valueQuantity", "component")
                    .where(F.col("at") < cutoff))

    def loinc(concept: "Column") -> "Column":
        return F.filter(concept["coding"], lambda c: c["system"] == LOINC)[0]["code"]

    top = observations.select("id", "patient_id", "at", loinc(F.col("code")).alias("loinc"),
                              F.col("valueQuantity").alias("q"))
    panel = F.exists("code.coding", lambda c: (c["system"] == LOINC) & (c["code"] == BLOOD_PRESSURE_PANEL))
    parts = (observations.where(panel).select("id", "patient_id", "at", F.explode("component").alias("c"))
             .select("id", "patient_id", "at", loinc(F.col("c.code")).alias("loinc"), F.col("c.valueQuantity").alias("q")))
    values = top.unionByName(parts).where(F.col("loinc").isin(*[v.loinc for v in VITALS]) & F.col("q.value").isNotNull())
    factor = factor_column(F.col("loinc"), F.coalesce(F.col("q.code"), F.col("q.unit")))
    return values.select("id", "patient_id", "at", "loinc", (F.col("q.value").cast("double") * factor).alias("value"))


def _latest_vitals(measurements: "DataFrame") -> "DataFrame":
    """Return per patient the latest convertible value of each vital and when it was taken."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    latest = Window.partitionBy("patient_id", "loinc").orderBy(F.col("at").desc(), "id")
    rows = measurements.where("value IS NOT NULL").withColumn("n", F.row_number().over(latest)).where("n = 1")
    columns = []
    for vital in VITALS:
        this = F.col("loinc") == vital.loinc
        columns += [F.max(F.when(this, F.col("value"))).alias(vital.column),
                    F.max(F.when(this, F.col("at"))).alias(vital.at_column)]
    return rows.groupBy("patient_id").agg(*columns)


def _counts(spark: "SparkSession", resource_type: str, reference: str, status: str, time: str,
            column: str, cutoff: "Column") -> "DataFrame":
    """Return per patient how many resources of a type with ``status`` happened before the cut-off."""
    from pyspark.sql import functions as F

    resources = read_fhir(spark, resource_type)
    return (resources.where((F.col("status") == status) & (fact_time(F.col(time)) < cutoff))
            .groupBy(patient_reference(F.col(reference)).alias("patient_id")).agg(F.count("*").alias(column)))


def _imaging(spark: "SparkSession", link: "DataFrame", as_of: date) -> "DataFrame":
    """Return per patient the linked studies dated at or before the as-of day, their modalities,
    body parts, latest date and frames."""
    from pyspark.sql import functions as F

    studies = (link.where((F.col("status") == "linked") & (F.col("study_date") <= F.lit(as_of)))
               .select("patient_id", "study_instance_uid").distinct()
               .join(read_dicom(spark, DICOM_STUDY).select("study_instance_uid", "study_date", "modalities_in_study",
                                                            "frame_count"), "study_instance_uid"))
    parts = (read_dicom(spark, DICOM_SERIES).where("body_part_examined IS NOT NULL")
             .groupBy("study_instance_uid").agg(F.collect_set("body_part_examined").alias("parts")))
    return (studies.join(parts, "study_instance_uid", "left").groupBy("patient_id").agg(
        F.count("*").alias("imaging_studies"),
        F.array_sort(F.array_distinct(F.flatten(F.collect_list("modalities_in_study")))).alias("imaging_modalities"),
        F.array_sort(F.array_distinct(F.flatten(F.collect_list(F.coalesce("parts", F.array()))))).alias(
            "imaging_body_parts"),
        F.max("study_date").alias("latest_study_date"),
        F.sum("frame_count").alias("imaging_frames")))


def build_patient_features(spark: "SparkSession", as_of: date, keys: "DataFrame", link: "DataFrame",
                           top_n: int) -> tuple["DataFrame", list[str], int]:
    """Return the rows of ``ml.patient_features``, the top condition codes, and how many vital-sign
    values had a unit that does not convert (left out).

    Parameters
    ----------
    spark
        The session.
    as_of
        Facts recorded at or before this day (UTC) count.
    keys
        ``patient_key``, ``patient_id`` (``ml.patient_key``).
    link
        The rows of ``ml.imaging_link``.
    top_n
        How many conditions become flags.
    """
    from pyspark.sql import functions as F

    from medlake.features.tables import patient_features_schema

    cutoff = F.lit(as_of + timedelta(days=1)).cast("timestamp")
    patients = _patients(spark, as_of, cutoff)
    conditions = _conditions(spark, cutoff).persist()
    codes = top_conditions(conditions, top_n)
    measurements = _measurements(spark, cutoff).persist()
    unconvertible = measurements.where("value IS NULL").count()
    parts = [
        _encounters(spark, cutoff),
        _condition_flags(conditions, patients, codes),
        _latest_vitals(measurements),
        _counts(spark, "MedicationRequest", "subject.reference", "active", "authoredOn", "active_medications", cutoff),
        _counts(spark, "Immunization", "patient.reference", "completed", "occurrenceDateTime", "immunizations", cutoff),
        _imaging(spark, link, as_of),
    ]
    rows = patients
    for part in parts:
        rows = rows.join(part, "patient_id", "left")
    counts = [name for name in rows.columns if name.startswith("encounters_")] + [
        "active_medications", "immunizations", "imaging_studies", "imaging_frames"]
    no_conditions = F.transform(_codes_column(codes), lambda code: F.struct(code.alias("code"), F.lit(False).alias("present"),
                                                      F.lit(None).cast("int").alias("onset_age_years")))
    rows = (rows.fillna(0, subset=counts)
            .withColumn("conditions", F.coalesce("conditions", no_conditions))
            .withColumn("imaging_modalities", F.coalesce("imaging_modalities", F.array().cast("array<string>")))
            .withColumn("imaging_body_parts", F.coalesce("imaging_body_parts", F.array().cast("array<string>")))
            .withColumn("as_of", F.lit(as_of))
            .join(keys, "patient_id"))
    schema = patient_features_schema()
    result = rows.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields]).localCheckpoint()
    conditions.unpersist()
    measurements.unpersist()
    return result, codes, unconvertible
