"""Image set documents: the AWS HealthImaging layout and conflict splitting, on one bundled CT study."""

from __future__ import annotations

import copy
import json
import re

import pytest
from bundled_dicom import bundled_bytes

from medlake.dicom.header import read_instance
from medlake.dicom.imageset import ImageFrame, build_image_sets, image_set_id, with_image_frames

DATASTORE = "0123456789abcdef0123456789abcdef"
STUDY_UID = "1.3.6.1.4.1.5962.1.1.0.0.0.1194734704.16302.0.1"
SERIES_2N = "1.3.6.1.4.1.5962.1.1.0.0.0.1194734704.16302.0.2"
SERIES_5N = "1.3.6.1.4.1.5962.1.1.0.0.0.1194734704.16302.0.6"
# One CT study of pydicom's bundled DICOMDIR tests: two series, seven instances.
STUDY_FILES = ["CT2N/6293", "CT2N/6924", "CT5N/2062", "CT5N/2392", "CT5N/2693", "CT5N/3023", "CT5N/3353"]


@pytest.fixture(scope="module")
def study() -> list[dict]:
    documents = []
    for name in STUDY_FILES:
        record = read_instance(bundled_bytes(f"dicomdirtests/98892001/{name}"), f"file:///in/{name}")
        assert record.outcome == "loaded"
        documents.append(json.loads(record.dicom_json))
    return documents


def _with(document: dict, tag: str, element: dict) -> dict:
    changed = copy.deepcopy(document)
    changed[tag] = element
    return changed


def _uid(document: dict) -> str:
    return document["00080018"]["Value"][0]


def test_layout(study: list[dict]) -> None:
    (image_set,) = build_image_sets(study, DATASTORE)
    document = image_set.document
    assert (image_set.is_primary, image_set.conflicting_attributes) == (True, [])
    assert list(document) == ["SchemaVersion", "DatastoreID", "ImageSetID", "Patient", "Study"]
    assert (document["SchemaVersion"], document["DatastoreID"]) == ("1.1", DATASTORE)
    assert re.fullmatch(r"[0-9a-f]{32}", document["ImageSetID"]) and document["ImageSetID"] == image_set.image_set_id
    assert document["Patient"]["DICOM"]["PatientID"] == "98890234"
    assert document["Study"]["DICOM"]["StudyInstanceUID"] == STUDY_UID
    assert sorted(document["Study"]["Series"]) == [SERIES_2N, SERIES_5N]
    series = document["Study"]["Series"][SERIES_5N]
    assert series["DICOM"]["Modality"] == "CT" and series["DICOM"]["SeriesInstanceUID"] == SERIES_5N
    assert len(series["Instances"]) == 5
    instance = series["Instances"][_uid(study[2])]
    assert instance["ImageFrames"] == [] and instance["StoredTransferSyntaxUID"] == "1.2.840.10008.1.2.1"
    dicom = instance["DICOM"]
    assert dicom["SOPInstanceUID"] == _uid(study[2]) and "PatientID" not in dicom and "Modality" not in dicom
    assert dicom["PixelData"] is None  # bulk data, as HealthImaging shows it
    assert isinstance(dicom["Rows"], int) and isinstance(dicom["ImageType"], list)
    assert isinstance(dicom["InstanceNumber"], str)  # IS and DS as text
    assert image_set.sop_instance_uids == sorted(_uid(d) for d in study)


def test_person_name_is_one_string() -> None:
    record = read_instance(bundled_bytes("chrH31.dcm"), "file:///in/chrH31.dcm")
    (image_set,) = build_image_sets([json.loads(record.dicom_json)], DATASTORE)
    assert image_set.document["Patient"]["DICOM"]["PatientName"] == "Yamada^Tarou=山田^太郎=やまだ^たろう"


def test_minority_patient_conflict_is_a_separate_non_primary_set(study: list[dict]) -> None:
    changed = _with(study[3], "00100020", {"vr": "LO", "Value": ["OTHER-ID"]})
    primary, other = build_image_sets([*study[:3], changed, *study[4:]], DATASTORE)
    assert (primary.is_primary, primary.conflicting_attributes, len(primary.sop_instance_uids)) == (True, [], 6)
    assert (other.is_primary, other.conflicting_attributes, other.sop_instance_uids) == (
        False, ["PatientID"], [_uid(study[3])])
    assert "OTHER-ID" not in json.dumps(other.conflicting_attributes)
    assert other.document["Patient"]["DICOM"]["PatientID"] == "OTHER-ID"
    assert primary.image_set_id != other.image_set_id


def test_tie_has_no_primary(study: list[dict]) -> None:
    first = _with(study[0], "00080020", {"vr": "DA", "Value": ["19990101"]})
    sets = build_image_sets([first, study[1]], DATASTORE)
    assert [s.is_primary for s in sets] == [False, False]
    assert [s.conflicting_attributes for s in sets] == [["StudyDate"], ["StudyDate"]]


def test_series_disagreement_stays_with_the_instances(study: list[dict]) -> None:
    changed = _with(study[2], "00080060", {"vr": "CS", "Value": ["MR"]})
    (image_set,) = build_image_sets([*study[:2], changed, *study[3:]], DATASTORE)
    series = image_set.document["Study"]["Series"][SERIES_5N]
    assert "Modality" not in series["DICOM"]
    assert series["Instances"][_uid(study[2])]["DICOM"]["Modality"] == "MR"
    assert series["Instances"][_uid(study[3])]["DICOM"]["Modality"] == "CT"


def test_ids_are_deterministic(study: list[dict]) -> None:
    assert [s.image_set_id for s in build_image_sets(study, DATASTORE)] == \
        [s.image_set_id for s in build_image_sets(list(reversed(study)), DATASTORE)]
    assert image_set_id(DATASTORE, STUDY_UID, "a") != image_set_id(DATASTORE, STUDY_UID, "b")
    assert build_image_sets(study, DATASTORE)[0].image_set_id != build_image_sets(study, "f" * 32)[0].image_set_id


def test_image_frames_are_filled(study: list[dict]) -> None:
    (image_set,) = build_image_sets(study, DATASTORE)
    frame = ImageFrame("0d1c97c51b773198a3df44383a5fd306", 384000, 512, 512, 2598394845, 0, 1466)
    filled = with_image_frames(image_set.document, _uid(study[0]), [frame])
    assert filled["Study"]["Series"][SERIES_2N]["Instances"][_uid(study[0])]["ImageFrames"] == [{
        "ID": "0d1c97c51b773198a3df44383a5fd306",
        "PixelDataChecksumFromBaseToFullResolution": [{"Width": 512, "Height": 512, "Checksum": 2598394845}],
        "MinPixelValue": 0, "MaxPixelValue": 1466, "FrameSizeInBytes": 384000}]
    assert image_set.document["Study"]["Series"][SERIES_2N]["Instances"][_uid(study[0])]["ImageFrames"] == []
    with pytest.raises(KeyError):
        with_image_frames(image_set.document, "1.2.3", [frame])


@pytest.mark.parametrize(("datastore", "mutate"), [
    ("not-a-datastore", lambda docs: docs),
    (DATASTORE, lambda docs: []),
    (DATASTORE, lambda docs: [*docs, docs[0]]),
    (DATASTORE, lambda docs: [*docs, _with(docs[0], "0020000D", {"vr": "UI", "Value": ["1.2.3"]})]),
    (DATASTORE, lambda docs: [{k: v for k, v in docs[0].items() if k != "0020000E"}]),
])
def test_bad_arguments(study: list[dict], datastore: str, mutate) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="^Unable to build image sets as "):
        build_image_sets(mutate(study), datastore)
