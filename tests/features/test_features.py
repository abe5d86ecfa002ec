"""The ml tables over a small generated lake, checked against expectations computed here from the inputs."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pydicom
import pytest

from medlake.config import FeaturesConfig
from medlake.errors import ConfigError
from medlake.features.keys import require_secret
from medlake.features.loader import FrameLoader, feature_frames
from medlake.tables import table_version

from .conftest import AS_OF, ML_TABLES, ORPHAN_STUDY, UNLINKED_STUDY, Lake

CUTOFF = datetime.combine(AS_OF + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)
SECRET = "medlake-test-only-feature-key"


def _key(patient_id: str) -> str:
    return hmac.new(SECRET.encode(), patient_id.encode(), hashlib.sha256).hexdigest()


def _features(spark: Any, patient_id: str) -> Any:
    return spark.table("ml.patient_features").where(f"patient_key = '{_key(patient_id)}'").first()


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _latest(lake: Lake, patient_id: str, loinc: str) -> tuple[float, datetime, str]:
    """Latest (value, time, unit) of a LOINC code before the cut-off, top-level or panel component."""
    values = []
    for obs in lake.resources("Observation"):
        if obs["subject"]["reference"] != f"Patient/{patient_id}" or _when(obs["effectiveDateTime"]) >= CUTOFF:
            continue
        for part in [obs, *obs.get("component", [])]:
            if any(c["code"] == loinc for c in part["code"]["coding"]) and "valueQuantity" in part:
                values.append((_when(obs["effectiveDateTime"]), part["valueQuantity"]["value"],
                               part["valueQuantity"]["code"]))
    when, value, unit = max(values, key=lambda v: v[0])
    return float(value), when, unit


@pytest.mark.parametrize("index", [0, 1])
def test_age_and_gender_of_two_patients(spark: Any, lake: Lake, index: int) -> None:
    patient = lake.roster[index]
    row = _features(spark, patient.id)
    assert (row.age_years, row.gender, row.deceased, row.as_of) == (
        _age(patient.birth_date, AS_OF), patient.sex.value, False, AS_OF)


def test_latest_blood_pressure_comes_from_panel_components_before_the_cut_off(spark: Any, lake: Lake) -> None:
    patient = lake.roster[0]
    systolic, when, _ = _latest(lake, patient.id, "8480-6")
    diastolic, _, _ = _latest(lake, patient.id, "8462-4")
    row = _features(spark, patient.id)
    assert (row.systolic_bp_mmhg, row.diastolic_bp_mmhg) == (systolic, diastolic)
    assert row.systolic_bp_at == when.astimezone(timezone.utc).replace(tzinfo=None)
    assert row.systolic_bp_mmhg != 199  # the planted panel of 2022-07-15 is after the as-of date


def test_us_units_are_converted(spark: Any, lake: Lake) -> None:
    patient = lake.roster[1]
    row = _features(spark, patient.id)
    assert _latest(lake, patient.id, "29463-7")[2] == "[lb_av]"
    assert row.weight_kg == pytest.approx(154.0 * 0.45359237)
    assert row.height_cm == pytest.approx(65.0 * 2.54)
    assert row.weight_at == datetime(2022, 6, 29, 12, 0)


def test_counts_only_count_facts_before_the_cut_off(spark: Any, lake: Lake) -> None:
    patient = lake.roster[0]
    mine = f"Patient/{patient.id}"
    encounters = [e for e in lake.resources("Encounter")
                  if e["subject"]["reference"] == mine and _when(e["period"]["start"]) < CUTOFF]
    recent = [e for e in encounters if _when(e["period"]["start"]) >= CUTOFF.replace(year=CUTOFF.year - 1)]
    immunizations = [i for i in lake.resources("Immunization")
                     if i["patient"]["reference"] == mine and _when(i["occurrenceDateTime"]) < CUTOFF]
    row = _features(spark, patient.id)
    assert (row.encounters_total, row.encounters_amb, row.encounters_total_12m, row.immunizations) == (
        len(encounters), len(encounters), len(recent), len(immunizations))
    assert len(encounters) < len([e for e in lake.resources("Encounter") if e["subject"]["reference"] == mine])


def test_imaging_features_of_a_patient_with_two_studies(spark: Any, lake: Lake) -> None:
    patient = lake.roster[0]
    dated = [s for s in patient.studies if s.started.date() <= AS_OF]
    row = _features(spark, patient.id)
    assert row.imaging_studies == len(dated)
    assert row.imaging_modalities == sorted({m for s in dated for m in s.modalities})
    assert row.latest_study_date == max((s.started.date() for s in dated), default=None)


def test_condition_flags_follow_the_top_codes(spark: Any, lake: Lake) -> None:
    rows = spark.table("ml.patient_features").select("conditions").collect()
    codes = [[c.code for c in row.conditions] for row in rows]
    assert all(c == codes[0] for c in codes) and 0 < len(codes[0]) <= 5
    for patient in lake.roster:
        held = {c["code"]["coding"][0]["code"] for c in lake.resources("Condition")
                if c["subject"]["reference"] == f"Patient/{patient.id}" and _when(c["recordedDate"]) < CUTOFF}
        row = _features(spark, patient.id)
        assert {c.code for c in row.conditions if c.present} == held & set(codes[0])


def test_keys_are_hmacs_kept_apart_from_the_features(spark: Any, lake: Lake) -> None:
    mapping = {row.patient_id: row.patient_key for row in spark.table("ml.patient_key").collect()}
    assert mapping == {p.id: _key(p.id) for p in lake.roster}
    assert "patient_id" not in spark.table("ml.patient_features").columns
    assert "patient_id" not in spark.table("ml.image_features").columns


def test_linkage_counts(lake: Lake) -> None:
    generated = sum(len(p.studies) for p in lake.roster)
    assert {k: lake.first.counts[k] for k in ("studies", "studies_linked", "studies_unlinked", "imaging_studies",
                                              "imaging_studies_without_dicom")} == {
        "studies": generated + 1, "studies_linked": generated, "studies_unlinked": 1,
        "imaging_studies": generated + 1, "imaging_studies_without_dicom": 1}


def test_every_generated_study_links_by_identifier(spark: Any, lake: Lake) -> None:
    rows = {(r.study_instance_uid, r.patient_id, r.status, r.patient_match, r.imaging_study_match, r.subject_agrees)
            for r in spark.table("ml.imaging_link").collect()}
    expected = {(s.uid, p.id, "linked", "identifier", "identifier", True) for p in lake.roster for s in p.studies}
    assert rows == expected | {(UNLINKED_STUDY, None, "no_patient", "none", None, None),
                               (None, lake.roster[0].id, "no_dicom", "imaging_study", None, None)}
    assert spark.table("ml.imaging_link").where(f"study_instance_uid = '{ORPHAN_STUDY}'").count() == 0


def test_image_statistics_of_a_known_frame_equal_numpy(spark: Any, lake: Lake) -> None:
    ds = pydicom.dcmread(lake.known_frame)
    values = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    row = spark.table("ml.image_features").where(f"sop_instance_uid = '{ds.SOPInstanceUID}'").first()
    p01, p50, p99 = np.percentile(values, [1, 50, 99])
    assert [row.min, row.max, row.mean, row.std, row.p01, row.p50, row.p99] == pytest.approx(
        [values.min(), values.max(), values.mean(), values.std(), p01, p50, p99], rel=1e-12)
    assert (row.unit, row.pixel_status, row.modality, row.patient_key) == ("HU", "ok", "CT", None)


def test_one_image_features_row_per_frame(spark: Any, lake: Lake) -> None:
    frames = spark.table("dicom.frame").count()
    assert spark.table("ml.image_features").count() == frames == lake.first.counts["frames"]
    assert lake.first.counts["frames_decoded"] == frames and lake.second.counts["frames_decoded"] == 0
    keyed = spark.table("ml.image_features").where("patient_key IS NOT NULL").count()
    assert keyed == frames - 1  # all but the unlinked study's one frame


def test_a_rerun_changes_no_ml_table(spark: Any, lake: Lake) -> None:
    assert {table: table_version(spark, table) for table in ML_TABLES} == lake.versions
    assert lake.second.counts == lake.first.counts | {"frames_decoded": 0, "frames_reused": lake.first.counts["frames"]
                                                      - lake.first.counts["frames_not_stored"]}


def test_frame_loader_streams_ct_frames_in_hounsfield_units(spark: Any, lake: Lake) -> None:
    loaded = list(FrameLoader(feature_frames(spark, "modality = 'CT'"), modality_units=True,
                              metadata=["sop_instance_uid", "patient_key"]))
    assert len(loaded) == spark.table("ml.image_features").where("modality = 'CT'").count() > 1
    ds = pydicom.dcmread(lake.known_frame)
    known = next(f for f in loaded if f.metadata["sop_instance_uid"] == ds.SOPInstanceUID)
    np.testing.assert_array_equal(known.pixels, ds.pixel_array.astype(np.float64) - 1024)


def test_a_missing_secret_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="MEDLAKE_FEATURE_KEY"):
        require_secret(FeaturesConfig())
    with pytest.raises(ConfigError, match="fewer than 16"):
        require_secret(FeaturesConfig(patient_key_secret="short"))
