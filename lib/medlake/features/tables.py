"""The ``ml`` tables: names, schemas with column comments, creation, and writes that replace content.

Each run leaves every ``ml`` table holding exactly the rows it computed: new and changed rows are
merged (:func:`medlake.tables.merge_into`, so unchanged rows are not rewritten) and rows it no
longer produces are deleted. A rerun on the same lake and as-of date commits nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from medlake.config import TableConfig
from medlake.features.statistics import STATISTICS
from medlake.features.units import VITALS
from medlake.tables import WriteResult, create_table, merge_into, table_version

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = [
    "IMAGE_FEATURES",
    "IMAGE_FEATURES_KEYS",
    "IMAGING_LINK",
    "IMAGING_LINK_KEYS",
    "PATIENT_FEATURES",
    "PATIENT_KEY",
    "ENCOUNTER_CLASSES",
    "create_ml_tables",
    "image_features_schema",
    "imaging_link_schema",
    "patient_features_schema",
    "patient_key_schema",
    "replace_rows",
]

PATIENT_FEATURES = "ml.patient_features"
PATIENT_KEY = "ml.patient_key"
IMAGING_LINK = "ml.imaging_link"
IMAGE_FEATURES = "ml.image_features"
#: One row per (study, ImagingStudy) pair; either may be null, so the key is their text (merge keys must not be null).
IMAGING_LINK_KEYS = ("link_id",)
IMAGE_FEATURES_KEYS = ("sop_instance_uid", "frame_number")
#: Encounter.class codes (v3 ActCode) counted in columns of their own; others count as ``other``.
ENCOUNTER_CLASSES = ("AMB", "EMER", "IMP")


def _schema(columns: Sequence[tuple[str, str, str]]) -> "StructType":
    from pyspark.sql.types import StructField, StructType

    parsed = StructType.fromDDL(", ".join(f"`{name}` {ddl}" for name, ddl, _ in columns))
    if not isinstance(parsed, StructType):
        raise TypeError(f"'columns' must declare columns, not one {parsed.simpleString()} type")
    return StructType([StructField(f.name, f.dataType, True, {"comment": comment})
                       for f, (_, _, comment) in zip(parsed.fields, columns)])


def patient_key_schema() -> "StructType":
    """Return the schema of ``ml.patient_key``."""
    return _schema([("patient_key", "string", "HMAC-SHA-256 of patient_id under the profile's secret, 64 hex digits"),
                    ("patient_id", "string", "FHIR Patient.id")])


def _encounter_columns() -> list[tuple[str, str, str]]:
    columns = []
    for suffix, window in (("", "all time"), ("_12m", "in the 12 months up to as_of")):
        for code in (*ENCOUNTER_CLASSES, "other", "total"):
            what = f"class {code}" if code in ENCOUNTER_CLASSES else \
                "another or no class" if code == "other" else "every class"
            columns.append((f"encounters_{code.lower()}{suffix}", "bigint",
                            f"Encounters of {what} starting at or before as_of, {window}"))
    return columns


def patient_features_schema() -> "StructType":
    """Return the schema of ``ml.patient_features``."""
    vitals = []
    for vital in VITALS:
        vitals.append((vital.column, "double", f"Latest LOINC {vital.loinc} at or before as_of, in {vital.unit}"))
        vitals.append((vital.at_column, "timestamp", f"When that {vital.loinc} value was taken (UTC)"))
    return _schema([
        ("patient_key", "string", "Pseudonymous key (ml.patient_key holds the mapping to the id)"),
        ("as_of", "date", "The features hold facts recorded at or before this day (UTC)"),
        ("age_years", "int", "Completed years at as_of, or at death if deceased by then"),
        ("gender", "string", "Patient.gender"),
        ("deceased", "boolean", "Deceased at or before as_of (deceasedDateTime) or deceasedBoolean true"),
        *_encounter_columns(),
        ("conditions", "array<struct<code:string,present:boolean,onset_age_years:int>>",
         "The features.top_conditions most frequent SNOMED CT codes, most frequent first, the same on every row"),
        *vitals,
        ("active_medications", "bigint", "MedicationRequests with status active authored at or before as_of"),
        ("immunizations", "bigint", "Immunizations with status completed given at or before as_of"),
        ("imaging_studies", "bigint", "Linked DICOM studies dated at or before as_of"),
        ("imaging_modalities", "array<string>", "Distinct modalities of those studies, sorted"),
        ("imaging_body_parts", "array<string>", "Distinct (0018,0015) Body Part Examined of their series, sorted"),
        ("latest_study_date", "date", "(0008,0020) Study Date of the latest of those studies"),
        ("imaging_frames", "bigint", "Frames of those studies (dicom.study.frame_count)"),
    ])


def imaging_link_schema() -> "StructType":
    """Return the schema of ``ml.imaging_link``."""
    return _schema([
        ("link_id", "string", "The row's key: '<study_instance_uid>|<imaging_study_id>', either part empty if null"),
        ("study_instance_uid", "string", "DICOM (0020,000D); null for an ImagingStudy with no DICOM study"),
        ("imaging_study_id", "string", "FHIR ImagingStudy.id naming the study, if any"),
        ("patient_id", "string", "FHIR Patient.id the study belongs to, if found"),
        ("status", "string", "linked, no_patient (a DICOM study of no known patient) or no_dicom"),
        ("patient_match", "string", "identifier (PatientID + IssuerOfPatientID), imaging_study (its subject), "
                                    "ambiguous (several patients share the identifier) or none"),
        ("imaging_study_match", "string", "identifier (urn:oid:<StudyInstanceUID>) or series_uid; null without one"),
        ("subject_agrees", "boolean", "ImagingStudy.subject names the patient found by identifier; null if either "
                                      "is missing"),
        ("study_date", "date", "(0008,0020) Study Date"),
    ])


def image_features_schema() -> "StructType":
    """Return the schema of ``ml.image_features``."""
    stats = [(name, "double", f"{name} of the frame's samples in `unit`") for name in STATISTICS]
    return _schema([
        ("sop_instance_uid", "string", "(0008,0018)"),
        ("frame_number", "int", "1-based"),
        ("frame_id", "string", "dicom.frame.frame_id"),
        ("image_set_id", "string", "dicom.frame.image_set_id"),
        ("study_instance_uid", "string", "(0020,000D)"),
        ("series_instance_uid", "string", "(0020,000E)"),
        ("patient_key", "string", "Pseudonymous key of the linked patient; null if the study links to none"),
        ("modality", "string", "(0008,0060)"),
        ("body_part_examined", "string", "(0018,0015)"),
        ("study_date", "date", "(0008,0020)"),
        ("rows", "int", "(0028,0010)"),
        ("columns", "int", "(0028,0011)"),
        ("samples_per_pixel", "int", "(0028,0002); statistics cover every sample"),
        ("rescale_slope", "double", "(0028,1053), null if absent"),
        ("rescale_intercept", "double", "(0028,1052), null if absent"),
        ("rescale_type", "string", "(0028,1054), null if absent"),
        ("unit", "string", "Rescale Type, HU for CT, US for other rescaled images; null: stored values"),
        ("pixel_status", "string", "ok, not_stored (pass-through frame) or decode_failed"),
        *stats,
        ("crc32", "bigint", "dicom.frame.crc32 of the decoded pixels the statistics come from"),
    ])


def create_ml_tables(spark: "SparkSession", settings: TableConfig) -> None:
    """Create the four ``ml`` tables where missing."""
    for table, schema, comment in (
        (PATIENT_KEY, patient_key_schema(), "Pseudonymous patient_key <-> FHIR Patient.id (keep apart)"),
        (PATIENT_FEATURES, patient_features_schema(), "One row per patient: features as of a date"),
        (IMAGING_LINK, imaging_link_schema(), "DICOM study <-> FHIR Patient and ImagingStudy"),
        (IMAGE_FEATURES, image_features_schema(), "One row per dicom.frame row: pixel statistics"),
    ):
        create_table(spark, table, schema, settings=settings, comment=comment)


def replace_rows(spark: "SparkSession", table: str, rows: "DataFrame", keys: Sequence[str]) -> WriteResult:
    """Make ``table`` hold exactly ``rows``: merge new and changed rows, delete rows absent from them.

    ``rows`` is read twice; checkpoint it first when it is expensive.
    """
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    merged = merge_into(spark, table, rows, keys)
    on = " AND ".join(f"t.`{key}` <=> s.`{key}`" for key in keys)
    gone = (spark.table(table).alias("t").join(rows.select(*keys).alias("s"), F.expr(on), "left_anti")
            .select(*keys).localCheckpoint())
    deleted = gone.count()
    if deleted:
        DeltaTable.forName(spark, table).alias("t").merge(gone.alias("s"), on).whenMatchedDelete().execute()
    return WriteResult(table=table, inserted=merged.inserted, updated=merged.updated, deleted=deleted,
                       version=table_version(spark, table) if deleted else merged.version)
