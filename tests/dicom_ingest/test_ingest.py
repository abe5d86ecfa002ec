"""DICOM ingest over the synthetic roster and the broken-file catalogue: outcomes, tables, rerun."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F

from medlake.dicom.ingest_job import JOB, run_dicom_ingest
from medlake.dicom.metadata import get_image_set_metadata
from medlake.dicom.tables import DICOM_IMAGE_SET, DICOM_INSTANCE, DICOM_QUARANTINE, DICOM_SERIES, DICOM_STUDY
from medlake.runs import RunSummary
from medlake.synthetic.dicom import CONFLICTING_PATIENT_INDEX, conflicting_instance_uid
from medlake.synthetic.roster import NameScript, build_roster
from medlake.tables import OPS_FILES, table_version

from .conftest import PATIENTS, SEED, Synthetic

EMPTY_FILE = "empty.dcm"
DICOM_TABLES = (DICOM_INSTANCE, DICOM_SERIES, DICOM_STUDY, DICOM_IMAGE_SET, DICOM_QUARANTINE)


def _path(uri: str) -> Path:
    return Path(uri.removeprefix("file:"))


def _files_of_run(spark: Any, run_id: str) -> dict[Path, Any]:
    rows = spark.table(OPS_FILES).where((F.col("job") == JOB) & (F.col("run_id") == run_id)).collect()
    return {_path(row.uri): row for row in rows}


def _quarantine_reasons(spark: Any) -> dict[Path, str]:
    return {_path(row.source_uri): row.reason for row in spark.table(DICOM_QUARANTINE).collect()}


def _listed(synthetic: Synthetic) -> list[Path]:
    return [p for d in (synthetic.dicom, synthetic.catalogue) for p in d.rglob("*") if p.is_file()]


def test_counts_add_up(spark: Any, synthetic: Synthetic, first_run: RunSummary) -> None:
    counts = first_run.counts
    catalogue = synthetic.catalogue_expected
    assert counts["files"] == len(_listed(synthetic)) == len(_files_of_run(spark, first_run.run_id))
    assert counts["files"] == sum(counts[name] for name in ("loaded", "duplicates", "dicomdir", "quarantined",
                                                            "too_large", "skipped"))
    assert {name: counts[name] for name in ("loaded", "duplicates", "dicomdir", "quarantined", "too_large")} == {
        "loaded": synthetic.expected["instances"] + sum(e["outcome"] == "loaded" for e in catalogue),
        "duplicates": sum(e["outcome"] == "duplicate" for e in catalogue),
        "dicomdir": sum(e["outcome"] == "dicomdir" for e in catalogue),
        "quarantined": sum(e["outcome"] == "quarantined" for e in catalogue),
        "too_large": 0,
    }
    manifest = _files_of_run(spark, first_run.run_id).values()
    assert all(row.records_in == row.loaded + row.duplicates + row.quarantined for row in manifest)


def test_each_catalogue_file_gets_its_outcome_and_reason(spark: Any, synthetic: Synthetic,
                                                         first_run: RunSummary) -> None:
    files = _files_of_run(spark, first_run.run_id)
    reasons = _quarantine_reasons(spark)
    actual = {str(path.relative_to(synthetic.catalogue)): (row.outcome, reasons.get(path))
              for path, row in files.items() if path.is_relative_to(synthetic.catalogue)}
    expected = {e["path"]: (e["outcome"], e["reason"]) for e in synthetic.catalogue_expected}
    assert actual == expected


def test_empty_file_gets_an_outcome(spark: Any, synthetic: Synthetic, first_run: RunSummary) -> None:
    """Spark's file scans skip files of 0 bytes; the manifest lists and quarantines them all the same."""
    files = _files_of_run(spark, first_run.run_id)
    empty = files[synthetic.catalogue / EMPTY_FILE]
    assert (empty.outcome, empty.size, empty.content_hash) == ("quarantined", 0, hashlib.sha256(b"").hexdigest())
    assert _quarantine_reasons(spark)[synthetic.catalogue / EMPTY_FILE] == "not_dicom"


def test_duplicates_name_their_kept_twin_and_the_difference(spark: Any, synthetic: Synthetic,
                                                            first_run: RunSummary) -> None:
    files = _files_of_run(spark, first_run.run_id)
    twin = files[synthetic.catalogue / "00-original.dcm"].uri
    assert files[synthetic.catalogue / "01-duplicate-identical.dcm"].detail == f"byte-identical to kept {twin}"
    assert files[synthetic.catalogue / "02-duplicate-implicit-vr.dcm"].detail == (
        f"same SOP Instance UID as kept {twin}; transfer syntax 1.2.840.10008.1.2 where the kept file has "
        "1.2.840.10008.1.2.1")
    kept = spark.table(DICOM_INSTANCE).where(F.col("source_uri").endswith("/00-original.dcm")).count()
    assert kept == 1


def test_person_name_groups_land_in_their_columns(spark: Any, first_run: RunSummary) -> None:
    roster = [p for p in build_roster(PATIENTS, SEED) if p.studies]
    expected = {p.mrn: (p.name.alphabetic.dicom, p.name.ideographic.dicom if p.name.ideographic else None,
                        p.name.phonetic.dicom if p.name.phonetic else None) for p in roster}
    assert {p.name.script for p in roster} >= {NameScript.JAPANESE, NameScript.KOREAN}
    rows = (spark.table(DICOM_INSTANCE).where(F.col("patient_id").isin(list(expected)))
            .select("patient_id", "patient_name_alphabetic", "patient_name_ideographic", "patient_name_phonetic",
                    "charset_warning").distinct().collect())
    assert {row.patient_id: tuple(row)[1:4] for row in rows} == expected
    assert len(rows) == len(expected) and not any(row.charset_warning for row in rows)


def test_series_and_studies_match_the_plan(spark: Any, first_run: RunSummary) -> None:
    studies = [s for p in build_roster(PATIENTS, SEED) for s in p.studies]
    expected = {s.uid: (len(s.series), s.number_of_instances,
                        sum(len(series.instance_uids) * series.frames for series in s.series),
                        sorted({series.modality for series in s.series})) for s in studies}
    rows = spark.table(DICOM_STUDY).where(F.col("study_instance_uid").isin(list(expected))).collect()
    assert {r.study_instance_uid: (r.series_count, r.instance_count, r.frame_count, r.modalities_in_study)
            for r in rows} == expected
    series = {s.uid: len(s.instance_uids) for study in studies for s in study.series}
    rows = spark.table(DICOM_SERIES).where(F.col("series_instance_uid").isin(list(series))).collect()
    assert {r.series_instance_uid: r.instance_count for r in rows} == series
    assert all(r.first_content_time <= r.last_content_time for r in rows)


def test_conflicting_instance_forms_a_separate_image_set(spark: Any, first_run: RunSummary) -> None:
    patient = build_roster(PATIENTS, SEED)[CONFLICTING_PATIENT_INDEX]
    study = patient.studies[0]
    odd_one = conflicting_instance_uid(patient)
    rows = spark.table(DICOM_IMAGE_SET).where(F.col("study_instance_uid") == study.uid).collect()
    assert sorted((r.is_primary, r.conflicting_attributes) for r in rows) == [
        (False, ["PatientBirthDate"]), (True, [])]
    study_row = spark.table(DICOM_STUDY).where(F.col("study_instance_uid") == study.uid).first()
    assert (study_row.patient_birth_date, study_row.disagreeing_attributes) == (None, ["patient_birth_date"])
    documents = {r.is_primary: get_image_set_metadata(spark, r.image_set_id) for r in rows}
    instances = {flag: {uid for series in doc["Study"]["Series"].values() for uid in series["Instances"]}
                 for flag, doc in documents.items()}
    everything = {uid for series in study.series for uid in series.instance_uids}
    assert instances == {False: {odd_one}, True: everything - {odd_one}}


def test_image_set_document_layout_and_sql_access(spark: Any, config: Any, first_run: RunSummary) -> None:
    patient = next(p for p in build_roster(PATIENTS, SEED) if p.name.script is NameScript.JAPANESE and p.studies)
    study = patient.studies[0]
    row = spark.table(DICOM_IMAGE_SET).where(F.col("study_instance_uid") == study.uid).first()
    document = get_image_set_metadata(spark, row.image_set_id)
    assert list(document) == ["SchemaVersion", "DatastoreID", "ImageSetID", "Patient", "Study"]
    assert (document["DatastoreID"], document["ImageSetID"]) == (config.dicom.datastore_id, row.image_set_id)
    assert document["Patient"]["DICOM"]["PatientName"] == patient.name.dicom
    assert sorted(document["Study"]["Series"]) == sorted(s.uid for s in study.series)
    for series in study.series:
        assert sorted(document["Study"]["Series"][series.uid]["Instances"]) == sorted(series.instance_uids)
    sql = spark.sql(f"SELECT document, get_json_object(document, '$.Patient.DICOM.PatientID') AS patient_id "
                    f"FROM {DICOM_IMAGE_SET} WHERE image_set_id = '{row.image_set_id}'").first()
    assert (json.loads(sql.document), sql.patient_id) == (document, patient.mrn)


@pytest.mark.parametrize(("image_set_id", "message"), [
    ("0" * 32, "no image set has the ID '00000000000000000000000000000000'"),
    ("not-an-id", "is not 32 lower-case hexadecimal digits"),
])
def test_missing_image_set_raises(spark: Any, first_run: RunSummary, image_set_id: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        get_image_set_metadata(spark, image_set_id)


def _snapshot(spark: Any) -> dict[str, tuple[int, list[Any]]]:
    return {table: (table_version(spark, table), sorted(spark.table(table).collect(), key=repr))
            for table in DICOM_TABLES}


def test_rerun_changes_no_dicom_table(spark: Any, config: Any, synthetic: Synthetic, first_run: RunSummary) -> None:
    before = _snapshot(spark)
    again = run_dicom_ingest(spark, config, [str(synthetic.dicom), str(synthetic.catalogue)])
    assert again.counts["skipped"] == again.counts["files"] == first_run.counts["files"]
    assert again.table_versions == {}
    assert _snapshot(spark) == before
