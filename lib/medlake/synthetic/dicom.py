"""Synthetic DICOM Part 10 studies for the roster's patients.

Each roster study becomes files with exactly the UIDs the roster (and so FHIR ImagingStudy)
names: a CT study has a CT series (signed 16-bit, 12 bits stored, Hounsfield units) and an RGB
secondary capture; an MR study has an MR series (signed 16-bit) and one multi-frame grayscale word
secondary capture. Names are written in the character set their script needs: ISO_IR 100 for
accented Latin names, ``\\ISO 2022 IR 87`` for Japanese, ``ISO 2022 IR 13\\ISO 2022 IR 87`` for
Japanese with half-width katakana and ``\\ISO 2022 IR 149`` for Korean.

Patient 0's first study holds one instance whose (0010,0030) 'Patient's Birth Date' disagrees
with the rest of the study (see :func:`conflicting_instance_uid`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from medlake.synthetic.roster import (
    ISSUER_OF_PATIENT_ID,
    NameScript,
    RosterPatient,
    SeriesKind,
    SeriesPlan,
    StudyPlan,
    derive_uid,
)

__all__ = [
    "CHARACTER_SETS",
    "CONFLICTING_PATIENT_INDEX",
    "ImageSize",
    "WrittenInstance",
    "conflicting_instance_uid",
    "instance_path",
    "patient_datasets",
    "write_dicom",
]

CHARACTER_SETS: dict[NameScript, str | list[str] | None] = {
    NameScript.LATIN: None,
    NameScript.LATIN1: "ISO_IR 100",
    NameScript.JAPANESE: ["", "ISO 2022 IR 87"],
    NameScript.JAPANESE_KATAKANA: ["ISO 2022 IR 13", "ISO 2022 IR 87"],
    NameScript.KOREAN: ["", "ISO 2022 IR 149"],
}
"""(0008,0005) 'Specific Character Set' per name script (None: the default repertoire)."""

CONFLICTING_PATIENT_INDEX = 0
"""The roster patient whose first study holds an instance with a different birth date."""

_CT_BITS_STORED = 12
_SC_BITS_STORED = 12
_MR_BITS_STORED = 16


@dataclass(frozen=True)
class ImageSize:
    """Rows and columns of every generated image."""

    rows: int = 64
    columns: int = 64

    def __post_init__(self) -> None:
        if self.rows < 8 or self.columns < 8:
            raise ValueError(f"'rows' and 'columns' must be 8 or more, not {self.rows} and {self.columns}")


@dataclass(frozen=True)
class WrittenInstance:
    """One written file and the identifiers it carries."""

    path: PurePosixPath
    patient_id: str
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str


def instance_path(patient: RosterPatient, study: StudyPlan, series: SeriesPlan, sop_instance_uid: str) -> PurePosixPath:
    """Return an instance's path relative to the output directory (ids and UIDs, never names).

    Examples
    --------
    >>> from medlake.synthetic.roster import roster_patient
    >>> p = roster_patient(0, seed=0)
    >>> s = p.studies[0]
    >>> instance_path(p, s, s.series[0], "1.2.3").parts[0] == p.id
    True
    """
    return PurePosixPath(patient.id, study.uid, series.uid, f"{sop_instance_uid}.dcm")


def conflicting_instance_uid(patient: RosterPatient) -> str | None:
    """Return the SOP Instance UID whose birth date disagrees with its study, if ``patient`` has one.

    Examples
    --------
    >>> from medlake.synthetic.roster import roster_patient
    >>> conflicting_instance_uid(roster_patient(1, seed=0)) is None
    True
    """
    if patient.index != CONFLICTING_PATIENT_INDEX or not patient.studies:
        return None
    return patient.studies[0].series[0].instance_uids[-1]


def _pixel_rng(seed: int, sop_instance_uid: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{sop_instance_uid}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _ellipse(size: ImageSize, radius_y: float, radius_x: float) -> np.ndarray:
    y, x = np.ogrid[:size.rows, :size.columns]
    cy, cx = (size.rows - 1) / 2, (size.columns - 1) / 2
    return ((y - cy) / (radius_y * size.rows)) ** 2 + ((x - cx) / (radius_x * size.columns)) ** 2 <= 1.0


def _ct_pixels(rng: np.random.Generator, size: ImageSize, position: float) -> np.ndarray:
    """Return a chest-like slice in Hounsfield units: air, soft tissue, lungs, a bony ring."""
    scale = 1.0 - 0.15 * position
    image = np.full((size.rows, size.columns), -1000.0)
    body = _ellipse(size, 0.42 * scale, 0.47 * scale)
    image[body] = 40.0
    image[body & ~_ellipse(size, 0.38 * scale, 0.43 * scale)] = 900.0
    for shift in (-0.2, 0.2):
        y, x = np.ogrid[:size.rows, :size.columns]
        lung = (((y - size.rows / 2) / (0.28 * size.rows)) ** 2
                + ((x - size.columns * (0.5 + shift)) / (0.14 * size.columns)) ** 2) <= 1.0
        image[lung & body] = -850.0
    image += rng.normal(0.0, 12.0, image.shape)
    return np.clip(np.rint(image), -1024, 2047).astype(np.int16)


def _mr_pixels(rng: np.random.Generator, size: ImageSize, position: float) -> np.ndarray:
    """Return a head-like slice: background noise around zero (signed), brain and brighter CSF."""
    scale = 1.0 - 0.2 * position
    image = rng.normal(0.0, 15.0, (size.rows, size.columns))
    image[_ellipse(size, 0.44 * scale, 0.38 * scale)] += 600.0
    image[_ellipse(size, 0.12 * scale, 0.08 * scale)] += 900.0
    return np.rint(image).astype(np.int16)


def _multiframe_pixels(rng: np.random.Generator, size: ImageSize, frames: int) -> np.ndarray:
    stack = [np.clip(_mr_pixels(rng, size, i / max(frames - 1, 1)), 0, 4095) for i in range(frames)]
    return np.stack(stack).astype(np.uint16)


def _rgb_pixels(size: ImageSize) -> np.ndarray:
    y, x = np.mgrid[:size.rows, :size.columns]
    red = (255 * x // max(size.columns - 1, 1)).astype(np.uint8)
    green = (255 * y // max(size.rows - 1, 1)).astype(np.uint8)
    blue = np.where(_ellipse(size, 0.3, 0.3), 255, 0).astype(np.uint8)
    return np.dstack([red, green, blue])


def _dicom_date(moment: datetime) -> str:
    return moment.strftime("%Y%m%d")


def _dicom_time(moment: datetime) -> str:
    return moment.strftime("%H%M%S")


def _base_dataset(patient: RosterPatient, study: StudyPlan, series: SeriesPlan, sop_instance_uid: str,
                  number: int, seed: int) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    charset = CHARACTER_SETS[patient.name.script]
    if charset is not None:
        ds.SpecificCharacterSet = charset
    ds.SOPClassUID = series.sop_class_uid
    ds.SOPInstanceUID = sop_instance_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = _dicom_date(study.started)
    ds.StudyTime = _dicom_time(study.started)
    ds.SeriesTime = _dicom_time(study.started + timedelta(minutes=series.number))
    ds.ContentTime = _dicom_time(study.started + timedelta(minutes=series.number, seconds=number))
    ds.AccessionNumber = study.accession_number
    ds.Modality = series.modality
    ds.Manufacturer = "medlake"
    ds.ManufacturerModelName = "synthetic"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = study.description
    ds.SeriesDescription = series.description
    ds.PatientName = patient.name.dicom
    ds.PatientID = patient.mrn
    ds.IssuerOfPatientID = ISSUER_OF_PATIENT_ID
    birth_date = patient.birth_date
    if sop_instance_uid == conflicting_instance_uid(patient):
        birth_date -= timedelta(days=366)
    ds.PatientBirthDate = birth_date.strftime("%Y%m%d")
    ds.PatientSex = patient.sex.dicom
    ds.BodyPartExamined = series.body_part
    ds.StudyInstanceUID = study.uid
    ds.SeriesInstanceUID = series.uid
    ds.StudyID = study.study_id
    ds.SeriesNumber = series.number
    ds.InstanceNumber = number
    ds.PatientOrientation = ""
    ds.FrameOfReferenceUID = derive_uid(seed, "frame-of-reference", study.uid)
    return ds


def _add_plane(ds: Dataset, size: ImageSize, number: int, thickness: float) -> None:
    z = (number - 1) * thickness
    ds.PositionReferenceIndicator = ""
    ds.ImagePositionPatient = [-size.columns / 4, -size.rows / 4, z]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.5, 0.5]
    ds.SliceThickness = thickness
    ds.SliceLocation = z


def _dataset(patient: RosterPatient, study: StudyPlan, series: SeriesPlan, index: int, seed: int,
             size: ImageSize) -> Dataset:
    sop_instance_uid = series.instance_uids[index]
    number = index + 1
    ds = _base_dataset(patient, study, series, sop_instance_uid, number, seed)
    rng = _pixel_rng(seed, sop_instance_uid)
    position = index / max(len(series.instance_uids) - 1, 1)
    if series.kind is SeriesKind.CT:
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        _add_plane(ds, size, number, 5.0)
        ds.KVP = 120
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "HU"
        ds.WindowCenter, ds.WindowWidth = 40, 400  # soft tissue
        ds.set_pixel_data(_ct_pixels(rng, size, position), "MONOCHROME2", _CT_BITS_STORED,
                          generate_instance_uid=False)
    elif series.kind is SeriesKind.MR:
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
        _add_plane(ds, size, number, 4.0)
        ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions = "SE", "NONE", ""
        ds.MRAcquisitionType = "2D"
        ds.RepetitionTime, ds.EchoTime, ds.EchoTrainLength = 500, 15, 1
        ds.MagneticFieldStrength = 1.5
        ds.set_pixel_data(_mr_pixels(rng, size, position), "MONOCHROME2", _MR_BITS_STORED,
                          generate_instance_uid=False)
    elif series.kind is SeriesKind.MULTIFRAME:
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.ConversionType = "WSD"
        ds.FrameIncrementPointer = pydicom.tag.Tag("PageNumberVector")
        ds.PageNumberVector = list(range(1, series.frames + 1))
        ds.set_pixel_data(_multiframe_pixels(rng, size, series.frames), "MONOCHROME2", _SC_BITS_STORED,
                          generate_instance_uid=False)
    else:
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.ConversionType = "WSD"
        ds.set_pixel_data(_rgb_pixels(size), "RGB", 8, generate_instance_uid=False)
    return ds


def patient_datasets(patient: RosterPatient, seed: int,
                     size: ImageSize = ImageSize()) -> Iterator[tuple[PurePosixPath, Dataset]]:
    """Yield every instance of the patient's studies with its relative path.

    Parameters
    ----------
    patient
        The roster patient.
    seed
        The seed the roster was built with (pixel noise derives from it).
    size
        Rows and columns of the images.

    Returns
    -------
    Iterator[tuple[PurePosixPath, Dataset]]
        Datasets with their ``file_meta`` (Explicit VR Little Endian), ready for ``dcmwrite``.

    Examples
    --------
    >>> from medlake.synthetic.roster import roster_patient
    >>> path, ds = next(patient_datasets(roster_patient(1, seed=0), seed=0))
    >>> str(ds.PatientName.ideographic), ds.SpecificCharacterSet
    ('田中^恵子', ['', 'ISO 2022 IR 87'])
    """
    for study in patient.studies:
        for series in study.series:
            for index, sop_instance_uid in enumerate(series.instance_uids):
                yield (instance_path(patient, study, series, sop_instance_uid),
                       _dataset(patient, study, series, index, seed, size))


def write_dicom(directory: Path, roster: Iterable[RosterPatient], seed: int, *, size: ImageSize = ImageSize(),
                progress: Callable[[int], None] | None = None) -> list[WrittenInstance]:
    """Write every roster study as DICOM Part 10 files under ``directory``.

    Parameters
    ----------
    directory
        Output root; files go to ``<patient id>/<study UID>/<series UID>/<SOP Instance UID>.dcm``.
    roster
        The patients (consumed once).
    seed
        The seed the roster was built with.
    size
        Rows and columns of the images.
    progress
        Called with the number of files written so far, every 1000 files.

    Returns
    -------
    list[WrittenInstance]
        One entry per file, in writing order.
    """
    written: list[WrittenInstance] = []
    for patient in roster:
        for relative, ds in patient_datasets(patient, seed, size):
            target = directory.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            pydicom.dcmwrite(target, ds, enforce_file_format=True)
            written.append(WrittenInstance(relative, patient.id, ds.StudyInstanceUID, ds.SeriesInstanceUID,
                                           ds.SOPInstanceUID))
            if progress is not None and len(written) % 1000 == 0:
                progress(len(written))
    return written
