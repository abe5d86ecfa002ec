import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import (
    CTImageStorage,
    MRImageStorage,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    SecondaryCaptureImageStorage,
)

from medlake.synthetic.dicom import ImageSize, conflicting_instance_uid, patient_datasets
from medlake.synthetic.roster import NameScript, RosterPatient, roster_patient

# (roster index, its script, the Specific Character Set its files carry)
NAMES = [
    (0, NameScript.LATIN, None),
    (1, NameScript.JAPANESE, ["", "ISO 2022 IR 87"]),
    (2, NameScript.KOREAN, ["", "ISO 2022 IR 149"]),
    (5, NameScript.JAPANESE_KATAKANA, ["ISO 2022 IR 13", "ISO 2022 IR 87"]),
    (6, NameScript.LATIN1, "ISO_IR 100"),
]


@pytest.mark.parametrize("index, script, charset", NAMES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_names_round_trip_through_pydicom(tmp_path: Path, seed: int, index: int, script: NameScript,
                                          charset: object) -> None:
    patient = roster_patient(index, seed=seed)
    assert patient.name.script is script
    _, ds = next(patient_datasets(patient, seed=seed, size=ImageSize(8, 8)))
    path = tmp_path / "instance.dcm"
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    raw = path.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any replacement-character fallback fails the test
        read = pydicom.dcmread(path)
        name = read.PatientName
        assert str(name) == patient.name.dicom
    assert read.get("SpecificCharacterSet") == charset
    if patient.name.ideographic is not None:
        assert name.ideographic == patient.name.ideographic.dicom
        assert name.phonetic == patient.name.phonetic.dicom  # type: ignore[union-attr]
        assert b"\x1b$" in raw  # ISO 2022 escape sequences, not UTF-8
        assert patient.name.ideographic.family.encode("utf-8") not in raw


def test_pydicom_reference_name_is_what_the_generator_writes() -> None:
    from medlake.synthetic.roster import NameGroup, PersonName

    name = PersonName(NameScript.JAPANESE, NameGroup("Yamada", "Tarou"), NameGroup("山田", "太郎"),
                      NameGroup("やまだ", "たろう"))
    assert name.dicom == "Yamada^Tarou=山田^太郎=やまだ^たろう"
    reference = pydicom.dcmread(pydicom.data.get_charset_files("chrH31.dcm")[0])
    assert str(reference.PatientName) == name.dicom


# (series kind index in a CT study or MR study, SOP class, dtype, bits stored, samples, frames)
@pytest.mark.parametrize("study, series, sop_class, dtype, bits_stored, shape", [
    (0, 0, CTImageStorage, np.int16, 12, (16, 16)),
    (0, 1, SecondaryCaptureImageStorage, np.uint8, 8, (16, 16, 3)),
    (1, 0, MRImageStorage, np.int16, 16, (16, 16)),
    (1, 1, MultiFrameGrayscaleWordSecondaryCaptureImageStorage, np.uint16, 12, (4, 16, 16)),
])
def test_pixel_data_has_the_planned_layout(generated: Path, roster: tuple[RosterPatient, ...], study: int,
                                           series: int, sop_class: str, dtype: type, bits_stored: int,
                                           shape: tuple[int, ...]) -> None:
    patient = roster[0]
    plan = patient.studies[study].series[series]
    path = generated / "dicom" / patient.id / patient.studies[study].uid / plan.uid / f"{plan.instance_uids[0]}.dcm"
    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array
    assert (ds.SOPClassUID, pixels.dtype, ds.BitsStored, pixels.shape) == (sop_class, dtype, bits_stored, shape)
    assert len(np.unique(pixels)) > 3
    if dtype == np.int16:
        assert ds.PixelRepresentation == 1 and pixels.min() < 0


def test_one_instance_has_a_conflicting_birth_date(generated: Path, roster: tuple[RosterPatient, ...]) -> None:
    patient = roster[0]
    study = patient.studies[0]
    dates = {p.stem: pydicom.dcmread(p, stop_before_pixels=True).PatientBirthDate
             for p in (generated / "dicom" / patient.id / study.uid).rglob("*.dcm")}
    odd = conflicting_instance_uid(patient)
    assert odd in dates
    assert {uid for uid, value in dates.items() if value != patient.birth_date.strftime("%Y%m%d")} == {odd}
    assert all(conflicting_instance_uid(p) is None for p in roster[1:])


def test_image_size_is_checked() -> None:
    with pytest.raises(ValueError, match="'rows' and 'columns' must be 8 or more"):
        ImageSize(4, 64)


def test_every_name_in_a_large_roster_encodes_in_its_character_set() -> None:
    from io import BytesIO

    from pydicom.dataset import Dataset

    from medlake.synthetic.dicom import CHARACTER_SETS
    from medlake.synthetic.roster import build_roster

    names = {(p.name.script, p.name.dicom) for p in build_roster(400, seed=0)}
    assert len(names) > 100
    for script, name in names:
        ds = Dataset()
        if CHARACTER_SETS[script] is not None:
            ds.SpecificCharacterSet = CHARACTER_SETS[script]
        ds.PatientName = name
        buffer = BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            pydicom.dcmwrite(buffer, ds, implicit_vr=False, little_endian=True)
            assert str(pydicom.dcmread(BytesIO(buffer.getvalue()), force=True).PatientName) == name
