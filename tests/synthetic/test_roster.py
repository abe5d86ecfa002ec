from pathlib import Path
from typing import Any

import pydicom
import pytest

from medlake.synthetic.fhir import DICOM_UID_SYSTEM
from medlake.synthetic.roster import ISSUER_OF_PATIENT_ID, MRN_SYSTEM, RosterPatient, derive_uid, roster_patient


@pytest.fixture(scope="module")
def dicom_headers(generated: Path) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted((generated / "dicom").rglob("*.dcm"))]


def test_every_dicom_study_is_an_imaging_study(resources: dict[str, list[dict[str, Any]]],
                                               dicom_headers: list[pydicom.Dataset],
                                               roster: tuple[RosterPatient, ...]) -> None:
    referenced = {i["value"] for s in resources["ImagingStudy"] for i in s["identifier"]
                  if i["system"] == DICOM_UID_SYSTEM}
    written = {f"urn:oid:{ds.StudyInstanceUID}" for ds in dicom_headers}
    assert written == referenced
    assert len(written) == sum(len(p.studies) for p in roster)


def test_imaging_study_lists_the_written_series_and_instances(resources: dict[str, list[dict[str, Any]]],
                                                              dicom_headers: list[pydicom.Dataset]) -> None:
    listed = {(s["uid"], i["uid"], i["sopClass"]["code"])
              for study in resources["ImagingStudy"] for s in study["series"] for i in s["instance"]}
    written = {(ds.SeriesInstanceUID, ds.SOPInstanceUID, f"urn:oid:{ds.SOPClassUID}") for ds in dicom_headers}
    assert listed == written


def test_dicom_patient_identifiers_match_fhir(resources: dict[str, list[dict[str, Any]]],
                                              dicom_headers: list[pydicom.Dataset]) -> None:
    mrn_by_patient = {f"Patient/{p['id']}": next(i["value"] for i in p["identifier"] if i.get("system") == MRN_SYSTEM)
                      for p in resources["Patient"]}
    patient_by_study = {s["identifier"][0]["value"]: s["subject"]["reference"] for s in resources["ImagingStudy"]}
    for ds in dicom_headers:
        assert ds.IssuerOfPatientID == ISSUER_OF_PATIENT_ID
        assert ds.PatientID == mrn_by_patient[patient_by_study[f"urn:oid:{ds.StudyInstanceUID}"]]


def test_uids_are_valid_and_deterministic() -> None:
    uid = derive_uid(3, "study", 7)
    assert uid == derive_uid(3, "study", 7) != derive_uid(4, "study", 7)
    assert pydicom.uid.UID(uid).is_valid and uid.startswith("2.25.")
    assert roster_patient(2, 3) == roster_patient(2, 3)


@pytest.mark.parametrize("index, error", [(-1, "'index' must be 0 or more"), (0, "must be 1 or more")])
def test_bad_arguments_raise(index: int, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        roster_patient(index, 0, frames=0 if index == 0 else 4)
