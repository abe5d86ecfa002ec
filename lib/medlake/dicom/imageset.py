"""Image set metadata documents in the AWS HealthImaging layout, built from instance DICOM JSON.

Layout (as ``GetImageSetMetadata`` returns it)::

    {"SchemaVersion": "1.1", "DatastoreID": ..., "ImageSetID": ...,
     "Patient": {"DICOM": {...}},
     "Study": {"DICOM": {...},
               "Series": {"<SeriesInstanceUID>": {"DICOM": {...},
                          "Instances": {"<SOPInstanceUID>": {"DICOM": {...}, "DICOMVRs": {...},
                                        "StoredTransferSyntaxUID": ..., "ImageFrames": [...]}}}}}}

``DICOM`` objects are keyed by keyword with plain JSON values: a string for PN
(``"Yamada^Tarou=山田^太郎=やまだ^たろう"``), DS and IS as text, a list where the dictionary allows
more than one value, a list of objects for SQ, base64 text for small binary values, and null for
empty values and bulk data (pixel data included).

Grouping: the instances of one study form image sets by their Patient- and Study-level
attributes. The group that more instances share than any other is the primary image set; every
other group is a separate image set, not primary, that names the attributes in conflict (never
their values). With a tie there is no majority and no group is primary: a conflict is never
resolved by taking the first value. Series-level attributes are lifted to the series only where
all its instances agree; otherwise each instance keeps its own value.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import dictionary_VM, dictionary_VR, keyword_for_tag, tag_for_keyword

__all__ = [
    "PATIENT_LEVEL_TAGS",
    "SCHEMA_VERSION",
    "SERIES_LEVEL_TAGS",
    "STUDY_LEVEL_TAGS",
    "ImageFrame",
    "ImageSet",
    "build_image_sets",
    "image_set_id",
    "with_all_image_frames",
    "with_image_frames",
]

SCHEMA_VERSION = "1.1"

_SOP_INSTANCE_UID = "00080018"
_STUDY_INSTANCE_UID = "0020000D"
_SERIES_INSTANCE_UID = "0020000E"
_TRANSFER_SYNTAX_UID = "00020010"
_DATASTORE_ID = re.compile(r"[0-9a-z]{32}")


def _tags(*keywords: str) -> frozenset[str]:
    """Return the DICOM JSON keys (8 hex digits) of dictionary keywords."""
    return frozenset(f"{tag_for_keyword(keyword):08X}" for keyword in keywords)


#: Patient-level attributes (AWS HealthImaging metadata normalization, Patient Module and Issuer of
#: Patient ID Macro).
PATIENT_LEVEL_TAGS = _tags(
    "PatientName", "PatientID", "IssuerOfPatientID",
    "TypeOfPatientID", "IssuerOfPatientIDQualifiersSequence",
    "PatientBirthDate", "PatientBirthTime", "PatientSex",
    "ReferencedPatientSequence", "OtherPatientIDsSequence",
    "OtherPatientNames", "EthnicGroup", "PatientComments",
    "PatientSpeciesDescription", "PatientBreedDescription",
    "ResponsiblePerson", "ResponsibleOrganization",
    "PatientIdentityRemoved", "DeidentificationMethod",
)
#: Study-level attributes (General Study and Patient Study Modules).
STUDY_LEVEL_TAGS = _tags(
    "StudyInstanceUID", "StudyDate", "StudyTime",
    "ReferringPhysicianName", "StudyID", "AccessionNumber",
    "IssuerOfAccessionNumberSequence", "StudyDescription",
    "PhysiciansOfRecord", "NameOfPhysiciansReadingStudy",
    "RequestingService", "ProcedureCodeSequence",
    "AdmittingDiagnosesDescription", "PatientAge",
    "PatientSize", "PatientWeight", "Occupation",
    "AdditionalPatientHistory", "PatientSexNeutered",
)
#: Series-level attributes (General Series, General Equipment and Frame of Reference Modules).
SERIES_LEVEL_TAGS = _tags(
    "SeriesInstanceUID", "Modality", "SeriesNumber",
    "SeriesDate", "SeriesTime", "SeriesDescription",
    "Laterality", "BodyPartExamined", "ProtocolName",
    "PatientPosition", "OperatorsName",
    "PerformingPhysicianName", "Manufacturer",
    "InstitutionName", "StationName",
    "ManufacturerModelName", "DeviceSerialNumber",
    "SoftwareVersions", "FrameOfReferenceUID",
    "PositionReferenceIndicator",
)


@dataclass(frozen=True)
class ImageFrame:
    """One frame as HealthImaging stores it: an ID, its encoded size and the CRC32 of its pixels."""

    frame_id: str
    frame_size_in_bytes: int
    width: int
    height: int
    checksum: int
    min_pixel_value: int | None = None
    max_pixel_value: int | None = None

    def as_metadata(self) -> dict[str, Any]:
        """Return the frame as an ``ImageFrames`` item."""
        return {
            "ID": self.frame_id,
            "PixelDataChecksumFromBaseToFullResolution": [
                {"Width": self.width, "Height": self.height, "Checksum": self.checksum}],
            "MinPixelValue": self.min_pixel_value,
            "MaxPixelValue": self.max_pixel_value,
            "FrameSizeInBytes": self.frame_size_in_bytes,
        }


@dataclass(frozen=True)
class ImageSet:
    """One image set of a study: its document and what the ``dicom.image_set`` row needs."""

    image_set_id: str
    study_instance_uid: str
    is_primary: bool
    #: Keywords of Patient- and Study-level attributes whose values differ from the primary image set's
    #: (from every other group's where there is no primary); empty for the primary image set.
    conflicting_attributes: list[str]
    sop_instance_uids: list[str]
    document: dict[str, Any] = field(repr=False)

    def to_json(self) -> str:
        """Return the document as compact UTF-8 JSON text."""
        return json.dumps(self.document, ensure_ascii=False, separators=(",", ":"))


def image_set_id(datastore_id: str, study_instance_uid: str, partition_key: str) -> str:
    """Return the deterministic 32-hex-digit ID of one image set.

    Examples
    --------
    >>> image_set_id("0" * 32, "1.2.3", "k") == image_set_id("0" * 32, "1.2.3", "k")
    True
    >>> len(image_set_id("0" * 32, "1.2.3", "k"))
    32
    """
    text = "\x00".join((datastore_id, study_instance_uid, partition_key))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def build_image_sets(instances: Sequence[Mapping[str, Any]], datastore_id: str) -> list[ImageSet]:
    """Group the DICOM JSON documents of one study's instances into image set documents.

    Parameters
    ----------
    instances
        PS3.18 DICOM JSON objects (tag keys), one per distinct SOP Instance UID, all of one study.
    datastore_id
        The configured data store, 32 characters ``[0-9a-z]``.

    Returns
    -------
    list of ImageSet
        The primary image set first (if there is a majority), then the others by ID.

    Raises
    ------
    ValueError
        If ``datastore_id`` is malformed, ``instances`` is empty, an instance lacks a SOP Instance,
        Series Instance or Study Instance UID, the study UIDs differ, or a SOP Instance UID repeats.
    """
    if not _DATASTORE_ID.fullmatch(datastore_id):
        raise ValueError("Unable to build image sets as 'datastore_id' must be 32 characters [0-9a-z]")
    if not instances:
        raise ValueError("Unable to build image sets as 'instances' is empty")
    study_uids = {_uid(instance, _STUDY_INSTANCE_UID) for instance in instances}
    sop_uids = [_uid(instance, _SOP_INSTANCE_UID) for instance in instances]
    for instance in instances:
        _uid(instance, _SERIES_INSTANCE_UID)
    if len(study_uids) != 1:
        raise ValueError(f"Unable to build image sets as 'instances' hold {len(study_uids)} studies, not 1")
    if len(set(sop_uids)) != len(sop_uids):
        raise ValueError("Unable to build image sets as a SOP Instance UID occurs more than once")
    (study_uid,) = study_uids

    groups: dict[str, list[Mapping[str, Any]]] = {}
    for instance in instances:
        groups.setdefault(_canonical(_level(instance, PATIENT_LEVEL_TAGS | STUDY_LEVEL_TAGS)), []).append(instance)
    sizes = Counter({key: len(members) for key, members in groups.items()})
    ranked = sizes.most_common(2)
    majority = ranked[0][0] if len(ranked) == 1 or ranked[0][1] > ranked[1][1] else None

    image_sets = []
    for key, members in groups.items():
        if key == majority:
            reference: list[dict[str, Any]] = []
        elif majority is not None:
            reference = [json.loads(majority)]
        else:
            reference = [json.loads(other) for other in groups if other != key]
        conflicts = sorted({_keyword(tag) for attributes in reference
                            for tag in _differing(json.loads(key), attributes)})
        set_id = image_set_id(datastore_id, study_uid, hashlib.sha256(key.encode("utf-8")).hexdigest())
        image_sets.append(ImageSet(
            image_set_id=set_id, study_instance_uid=study_uid, is_primary=key == majority,
            conflicting_attributes=conflicts,
            sop_instance_uids=sorted(_uid(member, _SOP_INSTANCE_UID) for member in members),
            document=_document(datastore_id, set_id, members),
        ))
    return sorted(image_sets, key=lambda image_set: (not image_set.is_primary, image_set.image_set_id))


def with_image_frames(document: Mapping[str, Any], sop_instance_uid: str,
                      frames: Sequence[ImageFrame]) -> dict[str, Any]:
    """Return a copy of an image set document with the ``ImageFrames`` of one instance set.

    Raises
    ------
    KeyError
        If no series of the document holds ``sop_instance_uid``.
    """
    copy = with_all_image_frames(document, {sop_instance_uid: frames})
    if not any(sop_instance_uid in series["Instances"] for series in copy["Study"]["Series"].values()):
        raise KeyError(f"Unable to set image frames as no series holds SOP Instance UID {sop_instance_uid}")
    return copy


def with_all_image_frames(document: Mapping[str, Any],
                          frames_by_instance: Mapping[str, Sequence[ImageFrame]]) -> dict[str, Any]:
    """Return a copy of an image set document with the ``ImageFrames`` of its instances set.

    Instances of the document missing from ``frames_by_instance`` keep their ``ImageFrames``;
    entries for instances the document does not hold are ignored.
    """
    copy: dict[str, Any] = json.loads(json.dumps(document))
    for series in copy["Study"]["Series"].values():
        for sop_instance_uid, instance in series["Instances"].items():
            if sop_instance_uid in frames_by_instance:
                instance["ImageFrames"] = [frame.as_metadata() for frame in frames_by_instance[sop_instance_uid]]
    return copy


def _uid(instance: Mapping[str, Any], tag: str) -> str:
    values = instance.get(tag, {}).get("Value") or [None]
    if not isinstance(values[0], str) or not values[0]:
        raise ValueError(f"Unable to build image sets as an instance has no ({tag[:4]},{tag[4:]}) value")
    return values[0]


def _level(instance: Mapping[str, Any], tags: frozenset[str]) -> dict[str, Any]:
    """Return the instance's attributes of one level, absent ones as None, keyed by tag."""
    return {tag: instance.get(tag) for tag in sorted(tags)}


def _canonical(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _differing(attributes: Mapping[str, Any], other: Mapping[str, Any]) -> list[str]:
    return [tag for tag in attributes if _canonical(attributes[tag]) != _canonical(other.get(tag))]


def _document(datastore_id: str, set_id: str, members: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Return the HealthImaging document of one group (Patient- and Study-level values agree)."""
    first = members[0]  # every member holds the same Patient- and Study-level values
    by_series: dict[str, list[Mapping[str, Any]]] = {}
    for member in members:
        by_series.setdefault(_uid(member, _SERIES_INSTANCE_UID), []).append(member)
    series_documents = {}
    for series_uid in sorted(by_series):
        series_members = by_series[series_uid]
        shared = {tag for tag in SERIES_LEVEL_TAGS
                  if len({_canonical(member.get(tag)) for member in series_members}) == 1
                  and tag in series_members[0]}
        series_documents[series_uid] = {
            "DICOM": _plain({tag: series_members[0][tag] for tag in shared}),
            "Instances": {
                _uid(member, _SOP_INSTANCE_UID): _instance(member, PATIENT_LEVEL_TAGS | STUDY_LEVEL_TAGS | shared)
                for member in sorted(series_members, key=lambda m: _uid(m, _SOP_INSTANCE_UID))
            },
        }
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "DatastoreID": datastore_id,
        "ImageSetID": set_id,
        "Patient": {"DICOM": _plain({tag: first[tag] for tag in PATIENT_LEVEL_TAGS if tag in first})},
        "Study": {"DICOM": _plain({tag: first[tag] for tag in STUDY_LEVEL_TAGS if tag in first}),
                  "Series": series_documents},
    }


def _instance(instance: Mapping[str, Any], lifted: frozenset[str] | set[str]) -> dict[str, Any]:
    own = {tag: element for tag, element in instance.items() if tag not in lifted}
    transfer_syntax = (instance.get(_TRANSFER_SYNTAX_UID, {}).get("Value") or [None])[0]
    return {"DICOM": _plain(own), "DICOMVRs": _explicit_vrs(own),
            "StoredTransferSyntaxUID": transfer_syntax, "ImageFrames": []}


def _keyword(tag: str) -> str:
    return keyword_for_tag(int(tag, 16)) or tag


def _plain(elements: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Return DICOM JSON elements as keyword keys with plain JSON values."""
    return {_keyword(tag): _plain_value(tag, element) for tag, element in sorted(elements.items())}


def _plain_value(tag: str, element: Mapping[str, Any]) -> Any:
    if "InlineBinary" in element:
        return element["InlineBinary"]
    values = element.get("Value")
    if not values:
        return None  # empty, or bulk data (BulkDataURI), as HealthImaging shows PixelData
    vr = element.get("vr")
    if vr == "SQ":
        return [_plain(item) for item in values]
    plain = [_plain_item(vr, value) for value in values]
    return plain[0] if len(plain) == 1 and _single_valued(tag) else plain


def _plain_item(vr: str | None, value: Any) -> Any:
    if vr == "PN" and isinstance(value, dict):
        groups = [value.get(group, "") for group in ("Alphabetic", "Ideographic", "Phonetic")]
        return "=".join(groups).rstrip("=")
    if vr in ("DS", "IS") and value is not None:
        return str(value)
    return value


def _single_valued(tag: str) -> bool:
    try:
        return dictionary_VM(int(tag, 16)) == "1"
    except KeyError:
        return True


def _explicit_vrs(elements: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Return the VRs a reader cannot take from the dictionary (private, unknown or different)."""
    explicit = {}
    for tag, element in elements.items():
        try:
            known = dictionary_VR(int(tag, 16))
        except KeyError:
            known = ""
        if element.get("vr") not in known.split(" or "):
            explicit[_keyword(tag)] = str(element.get("vr"))
    return explicit
