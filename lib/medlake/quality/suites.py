"""What the quality gates check: the suites, each a DataFrame and the expectations on it.

A suite validates one narrow DataFrame, built once and cached: the columns of one table that its
expectations need (nested FHIR elements flattened to names like ``period_start``), or a small
derived frame (references joined to ``fhir.patient``, the ledger's sums, compression per modality).
Every expectation carries a stable check name, the profile's ``quality.severity`` key. Expectations
are chosen so that their results are counts, percentages or column names, never a row's value.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from medlake.config import QualityConfig
from medlake.dicom.frames.table import FRAME_TABLE, FrameAction
from medlake.dicom.frames.htj2k import Verification
from medlake.dicom.tables import DICOM_IMAGE_SET, DICOM_INSTANCE, DICOM_SERIES, DICOM_STUDY
from medlake.errors import ConfigError
from medlake.fhir.schema import resource_types
from medlake.fhir.tables import LINEAGE_COLUMNS, typed_table
from medlake.tables import OPS_FILES, OPS_RUNS

if TYPE_CHECKING:
    from great_expectations.expectations import Expectation
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["DEFAULT_SEVERITIES", "Lake", "Severity", "Suite", "build_suites"]


class Severity(StrEnum):
    """What a failed check means for the job."""

    CRITICAL = "critical"
    """The job exits 1."""
    WARNING = "warning"
    """Reported in ``ops.quality`` and the report only."""


@dataclass(frozen=True)
class Lake:
    """The databases that hold the lake's tables (by default ``fhir``, ``dicom`` and ``ops``)."""

    fhir: str = "fhir"
    dicom: str = "dicom"
    ops: str = "ops"

    def table(self, name: str) -> str:
        """Return where this lake keeps medlake's table ``name``.

        Examples
        --------
        >>> Lake(fhir="staging_fhir").table("fhir.patient")
        'staging_fhir.patient'
        """
        database, table = name.split(".", 1)
        return f"{getattr(self, database)}.{table}"


@dataclass(frozen=True)
class Suite:
    """A named set of checks over one DataFrame of ``table``; skipped when a table it ``requires`` is missing."""

    name: str
    table: str
    requires: tuple[str, ...]
    frame: Callable[[], "DataFrame"]
    #: The expectations, each named by :meth:`_Builder.check`, given the (cached) frame: the
    #: compression suite has one per modality present.
    checks: Callable[["DataFrame"], list["Expectation"]]


#: Every check's default severity; the profile's ``quality.severity`` overrides them by name.
DEFAULT_SEVERITIES: Mapping[str, Severity] = {
    "id_not_null": Severity.CRITICAL,
    "id_unique": Severity.CRITICAL,
    "resource_type_matches_table": Severity.CRITICAL,
    "lineage_columns_present": Severity.CRITICAL,
    "lineage_not_null": Severity.CRITICAL,
    "gender_in_value_set": Severity.CRITICAL,
    "birth_date_is_partial_date": Severity.CRITICAL,
    "birth_date_not_in_future": Severity.CRITICAL,
    "deceased_not_before_birth": Severity.CRITICAL,
    "observation_status_in_value_set": Severity.CRITICAL,
    "observation_subject_present": Severity.WARNING,
    "quantity_has_ucum_code": Severity.WARNING,
    "encounter_status_in_value_set": Severity.CRITICAL,
    "encounter_period_in_order": Severity.CRITICAL,
    "condition_clinical_status_in_value_set": Severity.CRITICAL,
    "condition_verification_status_in_value_set": Severity.CRITICAL,
    "condition_onset_not_after_abatement": Severity.CRITICAL,
    "patient_reference_resolves": Severity.CRITICAL,
    "sop_instance_uid_not_null": Severity.CRITICAL,
    "sop_instance_uid_unique": Severity.CRITICAL,
    "instance_series_exists": Severity.CRITICAL,
    "instance_study_exists": Severity.CRITICAL,
    "frame_verified": Severity.CRITICAL,
    "frame_verification_matches": Severity.CRITICAL,
    "frame_crc32_present": Severity.CRITICAL,
    "compression_ratio_in_range": Severity.WARNING,
    "image_set_document_present": Severity.CRITICAL,
    "image_set_document_is_json": Severity.CRITICAL,
    "image_set_has_healthimaging_keys": Severity.CRITICAL,
    "file_counts_add_up": Severity.CRITICAL,
    "file_run_in_ledger": Severity.WARNING,
}

# Value sets of FHIR R4's required bindings.
_GENDER = ["male", "female", "other", "unknown"]
_OBSERVATION_STATUS = ["registered", "preliminary", "final", "amended", "corrected", "cancelled",
                       "entered-in-error", "unknown"]
_ENCOUNTER_STATUS = ["planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled",
                     "entered-in-error", "unknown"]
_CLINICAL_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_CLINICAL_STATUS = ["active", "recurrence", "relapse", "inactive", "remission", "resolved"]
_VERIFICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_VERIFICATION_STATUS = ["unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"]
_UCUM = "http://unitsofmeasure.org"
#: FHIR ``date``: ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``.
_PARTIAL_DATE = r"^[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$"
#: ``Patient/<id>``, relative or at the end of an absolute URL, optionally with ``/_history/<version>``.
_PATIENT_REFERENCE = r"(?:^|/)Patient/([A-Za-z0-9.-]{1,64})(?:/_history/[A-Za-z0-9.-]{1,64})?$"
#: Resource types whose ``subject`` references a Patient.
REFERENCING_TYPES = ("Observation", "Condition", "Encounter", "Procedure", "MedicationRequest", "ImagingStudy")
#: FHIR types with checks of their own; their suites are reported as skipped when the table is missing.
_CHECKED_TYPES = ("Patient", "Observation", "Encounter", "Condition")
#: Lineage columns only some rows fill (decimals beyond decimal(38,19)): present, but not checked for nulls.
_SPARSE_LINEAGE = {"_decimal_text"}
#: The top level of an AWS HealthImaging image set metadata document.
_IMAGE_SET_SCHEMA = {
    "type": "object",
    "required": ["SchemaVersion", "DatastoreID", "ImageSetID", "Patient", "Study"],
    "properties": {"Patient": {"type": "object", "required": ["DICOM"]},
                   "Study": {"type": "object", "required": ["DICOM", "Series"]}},
}
REFERENCES_SUITE = "fhir.references"
COMPRESSION_SUITE = "dicom.compression"
LEDGER_SUITE = "ops.ledger"


def _severities(config: QualityConfig) -> dict[str, Severity]:
    if unknown := sorted(set(config.severity) - set(DEFAULT_SEVERITIES)):
        raise ConfigError(f"Unable to run the quality gates as quality.severity names unknown checks {unknown}; "
                          f"known checks are {sorted(DEFAULT_SEVERITIES)}")
    return {**DEFAULT_SEVERITIES, **{name: Severity(value) for name, value in config.severity.items()}}


def _date(path: str) -> "Column":
    """A FHIR date or dateTime element as a date (a partial date at its first day), null where invalid."""
    from pyspark.sql import functions as F

    return F.col(path).try_cast("date")


def _instant(path: str) -> "Column":
    """A FHIR dateTime element as a timestamp (a partial one at its first instant), null where invalid."""
    from pyspark.sql import functions as F

    return F.col(path).try_cast("timestamp")


def _coded(path: str, system: str) -> "Column":
    """The code of the first coding of a CodeableConcept from ``system``."""
    from pyspark.sql import functions as F

    return F.try_element_at(F.filter(F.col(f"{path}.coding"), lambda c: c["system"] == system), F.lit(1))["code"]


class _Builder:
    """Builds the suites of one lake under one profile; each method returns one suite."""

    def __init__(self, spark: "SparkSession", config: QualityConfig, lake: Lake, today: dt.date) -> None:
        self.spark = spark
        self.config = config
        self.lake = lake
        self.today = today
        self.severities = _severities(config)

    def check(self, name: str, expectation: "Expectation", table: str | None = None) -> "Expectation":
        """Return ``expectation`` as check ``name``: its meta holds the name, the severity and the table
        whose rows it counts when not the suite's (the references suite covers several)."""
        expectation.meta = {"check": name, "severity": str(self.severities[name]), "table": table}
        return expectation

    def read(self, table: str) -> "DataFrame":
        return self.spark.table(self.lake.table(table))

    def exists(self, table: str) -> bool:
        return bool(self.spark.catalog.tableExists(self.lake.table(table)))

    def typed_types(self) -> list[str]:
        """Return the FHIR resource types whose typed table exists, and the types with checks of their own."""
        by_table = {typed_table(name).split(".", 1)[1]: name for name in resource_types()}
        listed = ({table.name for table in self.spark.catalog.listTables(self.lake.fhir)}
                  if self.spark.catalog.databaseExists(self.lake.fhir) else set())
        return sorted({by_table[name] for name in listed if name in by_table} | set(_CHECKED_TYPES))

    def fhir_suite(self, resource_type: str) -> Suite:
        """``id`` not null and unique, ``resourceType`` the table's, lineage present; per-type checks."""
        import great_expectations.expectations as gxe
        from pyspark.sql import functions as F

        table = typed_table(resource_type)
        extra_columns, extra_checks = self.type_rules(resource_type)

        def frame() -> "DataFrame":
            source = self.read(table)
            lineage = [name for name in LINEAGE_COLUMNS if name in source.columns]
            return source.select(
                "id", F.coalesce("resourceType", F.lit("")).alias("resourceType"), *lineage,
                *[column.alias(name) for name, column in extra_columns().items()])

        def checks(_: "DataFrame") -> list["Expectation"]:
            return [
                self.check("id_not_null", gxe.ExpectColumnValuesToNotBeNull(column="id")),
                self.check("id_unique", gxe.ExpectColumnValuesToBeUnique(column="id")),
                self.check("resource_type_matches_table",
                           gxe.ExpectColumnValuesToBeInSet(column="resourceType", value_set=[resource_type])),
                self.check("lineage_columns_present",
                           gxe.ExpectTableColumnsToMatchSet(column_set=list(LINEAGE_COLUMNS), exact_match=False)),
                *[self.check("lineage_not_null", gxe.ExpectColumnValuesToNotBeNull(column=name))
                  for name in LINEAGE_COLUMNS if name not in _SPARSE_LINEAGE],
                *extra_checks(),
            ]

        return Suite(table, table, (table,), frame, checks)

    def type_rules(self, resource_type: str) -> tuple[Callable[[], dict[str, "Column"]],
                                                      Callable[[], list["Expectation"]]]:
        """Return the extra columns and checks of ``resource_type`` (none for most types)."""
        import great_expectations.expectations as gxe
        from great_expectations.expectations.row_conditions import Column as Where
        from pyspark.sql import functions as F

        def in_order(name: str, later: str, earlier: str) -> "Expectation":
            return self.check(name, gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=later, column_B=earlier, or_equal=True, ignore_row_if="either_value_is_missing"))

        def in_set(name: str, column: str, values: list[str]) -> "Expectation":
            return self.check(name, gxe.ExpectColumnValuesToBeInSet(column=column, value_set=values))

        rules: dict[str, tuple[Callable[[], dict[str, Column]], Callable[[], list["Expectation"]]]] = {
            "Patient": (lambda: {
                "gender": F.col("gender"), "birthDate": F.col("birthDate"),
                "birthDate_start": _date("birthDate"), "deceasedDateTime_start": _date("deceasedDateTime"),
            }, lambda: [
                in_set("gender_in_value_set", "gender", _GENDER),
                self.check("birth_date_is_partial_date",
                           gxe.ExpectColumnValuesToMatchRegex(column="birthDate", regex=_PARTIAL_DATE)),
                self.check("birth_date_not_in_future", gxe.ExpectColumnValuesToBeBetween(
                    column="birthDate_start", max_value=self.today)),
                in_order("deceased_not_before_birth", "deceasedDateTime_start", "birthDate_start"),
            ]),
            "Observation": (lambda: {
                "status": F.col("status"), "subject_reference": F.col("subject.reference"),
                "valueQuantity_value": F.col("valueQuantity.value"),
                "valueQuantity_ucum_code": F.when(F.col("valueQuantity.system") == _UCUM, F.col("valueQuantity.code")),
            }, lambda: [
                in_set("observation_status_in_value_set", "status", _OBSERVATION_STATUS),
                self.check("observation_subject_present",
                           gxe.ExpectColumnValuesToNotBeNull(column="subject_reference")),
                self.check("quantity_has_ucum_code", gxe.ExpectColumnValuesToNotBeNull(
                    column="valueQuantity_ucum_code", row_condition=Where("valueQuantity_value").is_not_null())),
            ]),
            "Encounter": (lambda: {
                "status": F.col("status"), "period_start": _instant("period.start"),
                "period_end": _instant("period.end"),
            }, lambda: [
                in_set("encounter_status_in_value_set", "status", _ENCOUNTER_STATUS),
                in_order("encounter_period_in_order", "period_end", "period_start"),
            ]),
            "Condition": (lambda: {
                "clinicalStatus_code": _coded("clinicalStatus", _CLINICAL_SYSTEM),
                "verificationStatus_code": _coded("verificationStatus", _VERIFICATION_SYSTEM),
                "onset_start": F.coalesce(_instant("onsetDateTime"), _instant("onsetPeriod.start")),
                "abatement_end": F.coalesce(_instant("abatementDateTime"), _instant("abatementPeriod.end")),
            }, lambda: [
                in_set("condition_clinical_status_in_value_set", "clinicalStatus_code", _CLINICAL_STATUS),
                in_set("condition_verification_status_in_value_set", "verificationStatus_code",
                       _VERIFICATION_STATUS),
                in_order("condition_onset_not_after_abatement", "abatement_end", "onset_start"),
            ]),
        }
        return rules.get(resource_type, (dict, list))

    def references_suite(self) -> Suite:
        """Each referencing type's Patient references resolve to ``fhir.patient``, up to a threshold."""
        import great_expectations.expectations as gxe
        from great_expectations.expectations.row_conditions import Column as Where
        from pyspark.sql import DataFrame
        from pyspark.sql import functions as F

        patient = typed_table("Patient")

        def sources() -> list[str]:
            return [typed_table(name) for name in REFERENCING_TYPES if self.exists(typed_table(name))]

        def frame() -> "DataFrame":
            empty = self.spark.createDataFrame([], "source_table string, reference string")
            pointing = functools.reduce(DataFrame.unionByName, [
                self.read(table).select(F.lit(table).alias("source_table"),
                                        F.col("subject.reference").alias("reference"))
                for table in sources()], empty)
            patients = self.read(patient).select(F.col("id").alias("resolved_patient_id")).distinct()
            pointing = pointing.where(F.col("reference").rlike(_PATIENT_REFERENCE)).select(
                "source_table", F.regexp_extract("reference", _PATIENT_REFERENCE, 1).alias("patient_id"))
            return pointing.join(patients, F.col("patient_id") == F.col("resolved_patient_id"), "left").select(
                "source_table", "resolved_patient_id")

        def checks(_: "DataFrame") -> list["Expectation"]:
            mostly = 1.0 - self.config.max_unresolved_reference_fraction
            return [self.check("patient_reference_resolves", gxe.ExpectColumnValuesToNotBeNull(
                column="resolved_patient_id", mostly=mostly, row_condition=Where("source_table") == table), table)
                for table in sources()]

        return Suite(REFERENCES_SUITE, patient, (patient,), frame, checks)

    def instance_suite(self) -> Suite:
        """SOP Instance UIDs not null and unique; every instance's series and study exist."""
        import great_expectations.expectations as gxe
        from pyspark.sql import functions as F

        def frame() -> "DataFrame":
            series = self.read(DICOM_SERIES).select(F.col("series_instance_uid").alias("matched_series_uid")).distinct()
            studies = self.read(DICOM_STUDY).select(F.col("study_instance_uid").alias("matched_study_uid")).distinct()
            return (self.read(DICOM_INSTANCE).select("sop_instance_uid", "series_instance_uid", "study_instance_uid")
                    .join(series, F.col("series_instance_uid") == F.col("matched_series_uid"), "left")
                    .join(studies, F.col("study_instance_uid") == F.col("matched_study_uid"), "left"))

        def checks(_: "DataFrame") -> list["Expectation"]:
            return [
                self.check("sop_instance_uid_not_null", gxe.ExpectColumnValuesToNotBeNull(column="sop_instance_uid")),
                self.check("sop_instance_uid_unique", gxe.ExpectColumnValuesToBeUnique(column="sop_instance_uid")),
                self.check("instance_series_exists", gxe.ExpectColumnValuesToNotBeNull(column="matched_series_uid")),
                self.check("instance_study_exists", gxe.ExpectColumnValuesToNotBeNull(column="matched_study_uid")),
            ]

        return Suite(DICOM_INSTANCE, DICOM_INSTANCE, (DICOM_INSTANCE, DICOM_SERIES, DICOM_STUDY), frame, checks)

    def frame_suite(self) -> Suite:
        """Every transcoded frame verified (and not a mismatch); a CRC32 on every stored frame."""
        import great_expectations.expectations as gxe
        from great_expectations.expectations.row_conditions import Column as Where

        transcoded = Where("action") == str(FrameAction.TRANSCODED)

        def checks(_: "DataFrame") -> list["Expectation"]:
            return [
                self.check("frame_verified", gxe.ExpectColumnValuesToNotBeNull(
                    column="verification", row_condition=transcoded)),
                self.check("frame_verification_matches", gxe.ExpectColumnValuesToBeInSet(
                    column="verification", value_set=[Verification.OPENJPEG, Verification.OPENJPH_ONLY],
                    row_condition=transcoded)),
                self.check("frame_crc32_present", gxe.ExpectColumnValuesToNotBeNull(
                    column="crc32", row_condition=Where("action") != str(FrameAction.PASS_THROUGH))),
            ]

        return Suite(FRAME_TABLE, FRAME_TABLE, (FRAME_TABLE,),
                     lambda: self.read(FRAME_TABLE).select("action", "verification", "crc32"), checks)

    def compression_suite(self) -> Suite:
        """Raw bytes over HTJ2K bytes of each modality's transcoded frames within its configured range."""
        import great_expectations.expectations as gxe
        from great_expectations.expectations.row_conditions import Column as Where
        from pyspark.sql import functions as F

        def frame() -> "DataFrame":
            series = self.read(DICOM_SERIES).select("series_instance_uid", "modality").dropDuplicates(
                ["series_instance_uid"])
            return (self.read(FRAME_TABLE).where(F.col("action") == str(FrameAction.TRANSCODED))
                    .join(series, "series_instance_uid", "left")
                    .groupBy(F.coalesce("modality", F.lit("unknown")).alias("modality"))
                    .agg((F.sum("raw_size") / F.sum("encoded_size")).alias("compression_ratio")))

        def checks(ratios: "DataFrame") -> list["Expectation"]:
            ranges = self.config.compression_ratio
            modalities = sorted(row.modality for row in ratios.select("modality").collect())
            # One row per modality: the row condition leaves one value, so its mean is the modality's ratio.
            return [self.check("compression_ratio_in_range", gxe.ExpectColumnMeanToBeBetween(
                column="compression_ratio", min_value=ranges.get(modality, ranges["default"])[0],
                max_value=ranges.get(modality, ranges["default"])[1],
                row_condition=Where("modality") == modality))
                for modality in modalities]

        return Suite(COMPRESSION_SUITE, FRAME_TABLE, (FRAME_TABLE, DICOM_SERIES), frame, checks)

    def image_set_suite(self) -> Suite:
        """Every ``dicom.image_set`` document present, valid JSON, with the HealthImaging top-level keys."""
        import great_expectations.expectations as gxe

        def checks(_: "DataFrame") -> list["Expectation"]:
            return [
                self.check("image_set_document_present", gxe.ExpectColumnValuesToNotBeNull(column="document")),
                self.check("image_set_document_is_json", gxe.ExpectColumnValuesToBeJsonParseable(column="document")),
                self.check("image_set_has_healthimaging_keys", gxe.ExpectColumnValuesToMatchJsonSchema(
                    column="document", json_schema=_IMAGE_SET_SCHEMA)),
            ]

        return Suite(DICOM_IMAGE_SET, DICOM_IMAGE_SET, (DICOM_IMAGE_SET,),
                     lambda: self.read(DICOM_IMAGE_SET).select("document"), checks)

    def ledger_suite(self) -> Suite:
        """Per input file of ``ops.files``: in = loaded + duplicates + quarantined, and its run in ``ops.runs``."""
        import great_expectations.expectations as gxe
        from pyspark.sql import functions as F

        def frame() -> "DataFrame":
            runs = self.read(OPS_RUNS).select(F.col("run_id").alias("ledger_run_id")).distinct()
            files = self.read(OPS_FILES)
            return files.join(runs, files["run_id"] == runs["ledger_run_id"], "left").select(
                "records_in", (F.col("loaded") + F.col("duplicates") + F.col("quarantined")).alias("records_accounted"),
                "ledger_run_id")

        def checks(_: "DataFrame") -> list["Expectation"]:
            return [
                self.check("file_counts_add_up", gxe.ExpectColumnPairValuesToBeEqual(
                    column_A="records_in", column_B="records_accounted")),
                self.check("file_run_in_ledger", gxe.ExpectColumnValuesToNotBeNull(column="ledger_run_id")),
            ]

        return Suite(LEDGER_SUITE, OPS_FILES, (OPS_FILES, OPS_RUNS), frame, checks)


def build_suites(spark: "SparkSession", config: QualityConfig, lake: Lake = Lake(),
                 today: dt.date | None = None) -> list[Suite]:
    """Return the lake's suites in report order: FHIR types, references, DICOM, the ledger.

    Parameters
    ----------
    spark
        The session.
    config
        The profile's ``quality`` section (severities, thresholds).
    lake
        The databases to check.
    today
        The date births may not follow (default: today in UTC).

    Returns
    -------
    list[Suite]
        One suite per existing FHIR typed table (and per type with checks of its own, existing or
        not), then ``fhir.references``, ``dicom.instance``, ``dicom.frame``, ``dicom.compression``,
        ``dicom.image_set`` and ``ops.ledger``.

    Raises
    ------
    ConfigError
        If ``quality.severity`` names a check that does not exist.
    """
    builder = _Builder(spark, config, lake, today or dt.datetime.now(dt.timezone.utc).date())
    return [
        *[builder.fhir_suite(name) for name in builder.typed_types()],
        builder.references_suite(), builder.instance_suite(), builder.frame_suite(), builder.compression_suite(),
        builder.image_set_suite(), builder.ledger_suite(),
    ]

