"""The synthetic patient roster shared by the FHIR and the DICOM generators.

Each patient is derived from ``(seed, index)`` alone, so a roster of 10 patients is the first 10
patients of a roster of 1000, and both generators see the same people: the same FHIR id, the same
medical record number (DICOM PatientID with IssuerOfPatientID), the same names and the same study,
series and instance UIDs.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

from pydicom.uid import (
    CTImageStorage,
    MRImageStorage,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    SecondaryCaptureImageStorage,
)

__all__ = [
    "MRN_SYSTEM",
    "ISSUER_OF_PATIENT_ID",
    "NameScript",
    "Sex",
    "SeriesKind",
    "NameGroup",
    "PersonName",
    "SeriesPlan",
    "StudyPlan",
    "RosterPatient",
    "derive_uid",
    "derive_uuid",
    "roster_patient",
    "iter_roster",
    "build_roster",
]

MRN_SYSTEM = "http://hospital.smarthealthit.org"
"""FHIR ``Patient.identifier.system`` of the medical record number (type code ``MR``)."""

ISSUER_OF_PATIENT_ID = MRN_SYSTEM
"""DICOM (0010,0021) 'Issuer of Patient ID': the same text as the FHIR identifier system."""

_UID_NAMESPACE = "medlake-synthetic"
_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:medlake:synthetic")


class NameScript(StrEnum):
    """The writing system of a patient's name, which decides the DICOM character set."""

    LATIN = "latin"
    LATIN1 = "latin1"
    JAPANESE = "japanese"
    JAPANESE_KATAKANA = "japanese_katakana"
    KOREAN = "korean"


class Sex(StrEnum):
    """FHIR administrative gender of the roster's patients."""

    MALE = "male"
    FEMALE = "female"

    @property
    def dicom(self) -> str:
        """Return the DICOM (0010,0040) 'Patient's Sex' code."""
        return "M" if self is Sex.MALE else "F"


class SeriesKind(StrEnum):
    """The kinds of series the DICOM generator writes."""

    CT = "ct"
    MR = "mr"
    RGB_SECONDARY_CAPTURE = "rgb_secondary_capture"
    MULTIFRAME = "multiframe"


@dataclass(frozen=True)
class NameGroup:
    """One component group of a person name: family and given name."""

    family: str
    given: str

    @property
    def dicom(self) -> str:
        """Return the group in DICOM PN form, ``family^given``."""
        return f"{self.family}^{self.given}"


@dataclass(frozen=True)
class PersonName:
    """A person name with its alphabetic, ideographic and phonetic groups (DICOM PS3.5 6.2.1)."""

    script: NameScript
    alphabetic: NameGroup
    ideographic: NameGroup | None = None
    phonetic: NameGroup | None = None

    @property
    def dicom(self) -> str:
        """Return the DICOM PN value, e.g. ``Yamada^Tarou=山田^太郎=やまだ^たろう``."""
        groups = [self.alphabetic, self.ideographic, self.phonetic]
        return "=".join(g.dicom if g else "" for g in groups).rstrip("=")


@dataclass(frozen=True)
class SeriesPlan:
    """One series of a planned study, with the SOP Instance UIDs of its instances."""

    uid: str
    number: int
    kind: SeriesKind
    modality: str
    sop_class_uid: str
    description: str
    body_part: str
    instance_uids: tuple[str, ...]
    frames: int = 1


@dataclass(frozen=True)
class StudyPlan:
    """One imaging study of a patient: what DICOM files carry and FHIR ImagingStudy describes."""

    uid: str
    accession_number: str
    study_id: str
    started: datetime
    description: str
    series: tuple[SeriesPlan, ...]

    @property
    def modalities(self) -> tuple[str, ...]:
        """Return the distinct modalities of the study's series, in series order."""
        return tuple(dict.fromkeys(s.modality for s in self.series))

    @property
    def number_of_instances(self) -> int:
        """Return how many instances the study has."""
        return sum(len(s.instance_uids) for s in self.series)


@dataclass(frozen=True)
class RosterPatient:
    """One synthetic patient as both generators see them."""

    index: int
    id: str
    mrn: str
    name: PersonName
    birth_date: date
    sex: Sex
    studies: tuple[StudyPlan, ...]

    @property
    def utc_offset(self) -> timezone:
        """Return the patient's local UTC offset (Asia for Japanese and Korean patients)."""
        if self.name.script in (NameScript.LATIN, NameScript.LATIN1):
            return timezone(timedelta(hours=-5))
        return timezone(timedelta(hours=9))


# (family, given male, given female) choices per script; the Asian tables hold every group.
_LATIN_FAMILY = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "O'Brien",
                 "Davis", "Smith-Jones")
_LATIN_MALE = ("James", "John", "Robert", "Michael", "William", "David")
_LATIN_FEMALE = ("Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Susan")
_LATIN1_FAMILY = ("Müller", "Núñez", "Østergaard", "Dubois-Lefèvre", "Ångström")
_LATIN1_MALE = ("Jürgen", "José", "François", "Søren")
_LATIN1_FEMALE = ("Zoë", "Renée", "Åsa", "Inés")
# (romaji, kanji, hiragana, half-width katakana)
_JA_FAMILY = (("Yamada", "山田", "やまだ", "ﾔﾏﾀﾞ"), ("Tanaka", "田中", "たなか", "ﾀﾅｶ"),
              ("Suzuki", "鈴木", "すずき", "ｽｽﾞｷ"), ("Satou", "佐藤", "さとう", "ｻﾄｳ"),
              ("Takahashi", "高橋", "たかはし", "ﾀｶﾊｼ"), ("Itou", "伊藤", "いとう", "ｲﾄｳ"))
_JA_MALE = (("Tarou", "太郎", "たろう", "ﾀﾛｳ"), ("Hiroshi", "博", "ひろし", "ﾋﾛｼ"),
            ("Kenji", "健二", "けんじ", "ｹﾝｼﾞ"))
_JA_FEMALE = (("Hanako", "花子", "はなこ", "ﾊﾅｺ"), ("Yuki", "由紀", "ゆき", "ﾕｷ"),
              ("Keiko", "恵子", "けいこ", "ｹｲｺ"))
# (romanised, hanja, hangul)
_KO_FAMILY = (("Hong", "洪", "홍"), ("Kim", "金", "김"), ("Lee", "李", "이"), ("Park", "朴", "박"),
              ("Choi", "崔", "최"))
_KO_MALE = (("Gildong", "吉洞", "길동"), ("Minjun", "敏俊", "민준"), ("Jiho", "智浩", "지호"))
_KO_FEMALE = (("Sujin", "秀珍", "수진"), ("Eunji", "恩智", "은지"), ("Jiwoo", "知雨", "지우"))

# Patient index modulo 8 → script, so that any roster of 3 or more holds Japanese and Korean people.
_SCRIPT_BY_INDEX = (NameScript.LATIN, NameScript.JAPANESE, NameScript.KOREAN, NameScript.LATIN,
                    NameScript.LATIN, NameScript.JAPANESE_KATAKANA, NameScript.LATIN1,
                    NameScript.LATIN)
# Patient index modulo 4 → the kinds of study they had (the last quarter had none).
_STUDIES_BY_INDEX: tuple[tuple[SeriesKind, ...], ...] = (
    (SeriesKind.CT, SeriesKind.MR), (SeriesKind.MR,), (SeriesKind.CT,), ())
_BIRTH_RANGE = (date(1940, 1, 1), date(2015, 12, 31))
_STUDY_RANGE = (datetime(2018, 1, 1, 8, 0), datetime(2024, 12, 31, 8, 0))


def derive_uid(seed: int, *parts: object) -> str:
    """Return a deterministic ``2.25.`` UID for a seed and a path of parts.

    Parameters
    ----------
    seed
        The generator's seed.
    *parts
        What the UID identifies, e.g. ``("study", 3, 0)``.

    Returns
    -------
    str
        ``2.25.`` followed by the integer of a name-based (SHA-1, version 5) UUID, as PS3.5 B.2
        allows. (pydicom's ``generate_uid(prefix=None)`` ignores ``entropy_srcs``, so it cannot
        serve here.)

    Examples
    --------
    >>> derive_uid(0, "study", 1) == derive_uid(0, "study", 1)
    True
    >>> derive_uid(0, "study", 1).startswith("2.25.")
    True
    """
    name = "/".join([str(seed), *map(str, parts)])
    return f"2.25.{uuid.uuid5(_UUID_NAMESPACE, name).int}"


def derive_uuid(rng: random.Random) -> str:
    """Return a version 4 UUID string drawn from ``rng`` (deterministic for a seeded ``rng``)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _random_date(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randrange((last - first).days + 1))


def _name(rng: random.Random, script: NameScript, sex: Sex) -> PersonName:
    male = sex is Sex.MALE
    if script is NameScript.LATIN:
        given = rng.choice(_LATIN_MALE if male else _LATIN_FEMALE)
        return PersonName(script, NameGroup(rng.choice(_LATIN_FAMILY), given))
    if script is NameScript.LATIN1:
        given = rng.choice(_LATIN1_MALE if male else _LATIN1_FEMALE)
        return PersonName(script, NameGroup(rng.choice(_LATIN1_FAMILY), given))
    if script is NameScript.KOREAN:
        k_family = rng.choice(_KO_FAMILY)
        k_given = rng.choice(_KO_MALE if male else _KO_FEMALE)
        return PersonName(script, NameGroup(k_family[0], k_given[0]), NameGroup(k_family[1], k_given[1]),
                          NameGroup(k_family[2], k_given[2]))
    j_family = rng.choice(_JA_FAMILY)
    j_given = rng.choice(_JA_MALE if male else _JA_FEMALE)
    alphabet = 3 if script is NameScript.JAPANESE_KATAKANA else 0
    return PersonName(script, NameGroup(j_family[alphabet], j_given[alphabet]),
                      NameGroup(j_family[1], j_given[1]), NameGroup(j_family[2], j_given[2]))


_SERIES_SPECS: dict[SeriesKind, tuple[str, str, str, str]] = {
    # kind: (modality, SOP class, description, body part)
    SeriesKind.CT: ("CT", CTImageStorage, "Axial 5mm", "CHEST"),
    SeriesKind.MR: ("MR", MRImageStorage, "T1 axial", "HEAD"),
    SeriesKind.RGB_SECONDARY_CAPTURE: ("OT", SecondaryCaptureImageStorage, "Screen capture", "CHEST"),
    SeriesKind.MULTIFRAME: ("OT", MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
                            "Multi-frame reformat", "HEAD"),
}
# Each study kind: its primary series, then one extra series of a special kind.
_STUDY_SERIES = {SeriesKind.CT: (SeriesKind.CT, SeriesKind.RGB_SECONDARY_CAPTURE),
                 SeriesKind.MR: (SeriesKind.MR, SeriesKind.MULTIFRAME)}
_STUDY_DESCRIPTIONS = {SeriesKind.CT: "CT chest without contrast", SeriesKind.MR: "MR brain"}


def _study(rng: random.Random, seed: int, index: int, number: int, kind: SeriesKind,
           instances_per_series: int, frames: int) -> StudyPlan:
    path = ("patient", index, "study", number)
    series = []
    for series_number, series_kind in enumerate(_STUDY_SERIES[kind], start=1):
        modality, sop_class, description, body_part = _SERIES_SPECS[series_kind]
        single = series_kind in (SeriesKind.RGB_SECONDARY_CAPTURE, SeriesKind.MULTIFRAME)
        count = 1 if single else instances_per_series
        series.append(SeriesPlan(
            uid=derive_uid(seed, *path, "series", series_number),
            number=series_number,
            kind=series_kind,
            modality=modality,
            sop_class_uid=sop_class,
            description=description,
            body_part=body_part,
            instance_uids=tuple(derive_uid(seed, *path, "series", series_number, "instance", i)
                                for i in range(1, count + 1)),
            frames=frames if series_kind is SeriesKind.MULTIFRAME else 1,
        ))
    first, last = _STUDY_RANGE
    started = first + timedelta(days=rng.randrange((last - first).days), minutes=rng.randrange(600))
    return StudyPlan(
        uid=derive_uid(seed, *path),
        accession_number=f"A{seed % 1000:03d}{index:07d}{number}",
        study_id=str(number),
        started=started,
        description=_STUDY_DESCRIPTIONS[kind],
        series=tuple(series),
    )


def roster_patient(index: int, seed: int, *, instances_per_series: int = 3,
                   frames: int = 4) -> RosterPatient:
    """Return the roster's patient number ``index`` for ``seed``.

    Parameters
    ----------
    index
        The patient's position in the roster, from 0.
    seed
        The generator's seed.
    instances_per_series
        Instances in each CT and MR series (secondary capture series have one instance).
    frames
        Frames of the multi-frame instance.

    Returns
    -------
    RosterPatient
        The same patient for the same arguments, whatever the roster's size.

    Raises
    ------
    ValueError
        If ``index`` is negative or ``instances_per_series`` or ``frames`` is below 1.

    Examples
    --------
    >>> roster_patient(1, seed=0).name.script
    <NameScript.JAPANESE: 'japanese'>
    """
    if index < 0:
        raise ValueError(f"'index' must be 0 or more, not {index}")
    if instances_per_series < 1 or frames < 1:
        raise ValueError("'instances_per_series' and 'frames' must be 1 or more, not "
                         f"{instances_per_series} and {frames}")
    rng = random.Random(f"{_UID_NAMESPACE}:{seed}:patient:{index}")
    patient_id = derive_uuid(rng)
    sex = rng.choice((Sex.MALE, Sex.FEMALE))
    script = _SCRIPT_BY_INDEX[index % len(_SCRIPT_BY_INDEX)]
    name = _name(rng, script, sex)
    birth_date = _random_date(rng, *_BIRTH_RANGE)
    kinds = _STUDIES_BY_INDEX[index % len(_STUDIES_BY_INDEX)]
    studies = tuple(_study(rng, seed, index, number, kind, instances_per_series, frames)
                    for number, kind in enumerate(kinds, start=1))
    return RosterPatient(index=index, id=patient_id, mrn=f"MRN{seed % 1000:03d}{index:08d}", name=name,
                         birth_date=birth_date, sex=sex, studies=studies)


def iter_roster(patients: int, seed: int, *, instances_per_series: int = 3,
                frames: int = 4) -> Iterator[RosterPatient]:
    """Yield the roster's first ``patients`` patients, one at a time (for large rosters).

    Raises
    ------
    ValueError
        If ``patients`` is negative.
    """
    if patients < 0:
        raise ValueError(f"'patients' must be 0 or more, not {patients}")
    for index in range(patients):
        yield roster_patient(index, seed, instances_per_series=instances_per_series, frames=frames)


def build_roster(patients: int, seed: int, *, instances_per_series: int = 3,
                 frames: int = 4) -> tuple[RosterPatient, ...]:
    """Return the roster's first ``patients`` patients.

    Examples
    --------
    >>> [p.name.script.value for p in build_roster(3, seed=7)]
    ['latin', 'japanese', 'korean']
    """
    return tuple(iter_roster(patients, seed, instances_per_series=instances_per_series, frames=frames))
