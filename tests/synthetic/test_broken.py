import zlib
from pathlib import Path, PurePosixPath

import pydicom
import pytest
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.fileset import FileSet

from medlake.quarantine import QuarantineReason
from medlake.synthetic.broken import ExpectedFile, ExpectedOutcome, broken_files, write_broken_dicom

DICOM_REASONS = [QuarantineReason.NOT_DICOM, QuarantineReason.TRUNCATED, QuarantineReason.BAD_VR_OR_LENGTH,
                 QuarantineReason.MISSING_SOP_INSTANCE_UID, QuarantineReason.MISSING_STUDY_INSTANCE_UID,
                 QuarantineReason.UNREADABLE_FILE_META, QuarantineReason.DEFLATE_ERROR]


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[PurePosixPath, ExpectedFile]]:
    root = tmp_path_factory.mktemp("broken")
    return root, {e.path: e for e in write_broken_dicom(root)}


def test_every_category_and_outcome_has_a_file(catalogue: tuple[Path, dict[PurePosixPath, ExpectedFile]]) -> None:
    _, expected = catalogue
    assert {e.reason for e in expected.values() if e.reason} == set(DICOM_REASONS)
    assert {e.outcome for e in expected.values()} == set(ExpectedOutcome)
    assert all((e.reason is None) == (e.outcome is not ExpectedOutcome.QUARANTINED) for e in expected.values())


def test_written_files_are_the_catalogue(catalogue: tuple[Path, dict[PurePosixPath, ExpectedFile]]) -> None:
    root, expected = catalogue
    assert {PurePosixPath(p.relative_to(root).as_posix()) for p in root.rglob("*") if p.is_file()} == set(expected)


def _read_everything(path: Path) -> pydicom.Dataset:
    ds = pydicom.dcmread(path)
    for element in ds:
        _ = element.value
    if "PixelData" in ds:
        _ = ds.pixel_array
    return ds


# (file, what pydicom raises when reading the whole file, values included)
FAILURES = [
    ("not-dicom.dcm", InvalidDicomError),
    ("empty.dcm", InvalidDicomError),
    ("bad-vr.dcm", NotImplementedError),
    ("bad-length.dcm", BytesLengthException),
    ("deflate-error.dcm", zlib.error),
    ("truncated-pixels.dcm", ValueError),
]


@pytest.mark.parametrize("name, error", FAILURES)
def test_broken_file_fails_in_pydicom(catalogue: tuple[Path, dict[PurePosixPath, ExpectedFile]], name: str,
                                      error: type[Exception]) -> None:
    root, _ = catalogue
    with pytest.raises(error):
        _read_everything(root / name)


@pytest.mark.parametrize("name, keyword", [("missing-sop-instance-uid.dcm", "SOPInstanceUID"),
                                           ("missing-study-instance-uid.dcm", "StudyInstanceUID")])
def test_missing_uid_files_lack_only_that_uid(catalogue: tuple[Path, dict[PurePosixPath, ExpectedFile]], name: str,
                                              keyword: str) -> None:
    root, _ = catalogue
    ds = _read_everything(root / name)
    original = _read_everything(root / "00-original.dcm")
    assert keyword not in ds
    assert set(original.dir()) - set(ds.dir()) == {keyword}


@pytest.mark.parametrize("name", ["truncated-header.dcm", "truncated-in-value.dcm", "truncated-pixels.dcm"])
def test_truncated_files_are_prefixes_of_the_original(catalogue: tuple[Path, dict[PurePosixPath, ExpectedFile]],
                                                      name: str) -> None:
    root, _ = catalogue
    data, original = (root / name).read_bytes(), (root / "00-original.dcm").read_bytes()
    assert len(data) < len(original) and original.startswith(data)


def test_unreadable_file_meta(catalogue: tuple[Path, dict[PurePosixPath, ExpectedFile]]) -> None:
    root, _ = catalogue
    meta = pydicom.filereader.read_file_meta_info(root / "unreadable-file-meta-no-transfer-syntax.dcm")
    assert "TransferSyntaxUID" not in meta
    garbled = (root / "unreadable-file-meta-bad-vr.dcm").read_bytes()
    assert b"\x02\x00\x10\x00\x00\x00" in garbled[:300]


def test_duplicates_name_their_twin(catalogue: tuple[Path, dict[PurePosixPath, ExpectedFile]]) -> None:
    root, expected = catalogue
    original = pydicom.dcmread(root / "00-original.dcm")
    identical = expected[PurePosixPath("01-duplicate-identical.dcm")]
    reencoded = expected[PurePosixPath("02-duplicate-implicit-vr.dcm")]
    assert identical.twin == reencoded.twin == PurePosixPath("00-original.dcm")
    assert (root / identical.path).read_bytes() == (root / "00-original.dcm").read_bytes()
    other = pydicom.dcmread(root / reencoded.path)
    assert other.SOPInstanceUID == original.SOPInstanceUID
    assert other.file_meta.TransferSyntaxUID != original.file_meta.TransferSyntaxUID
    assert (other.pixel_array == original.pixel_array).all()


def test_dicomdir_is_a_file_set(catalogue: tuple[Path, dict[PurePosixPath, ExpectedFile]]) -> None:
    root, expected = catalogue
    fileset = FileSet(pydicom.dcmread(root / "dicomdir" / "DICOMDIR"))
    (instance,) = fileset
    loaded = [e for e in expected.values() if e.path.parts[0] == "dicomdir" and e.outcome is ExpectedOutcome.LOADED]
    assert [PurePosixPath(Path(instance.path).relative_to(root).as_posix())] == [e.path for e in loaded]


def test_catalogue_is_deterministic() -> None:
    first, second = broken_files(seed=4), broken_files(seed=4)
    assert {k: v[0] for k, v in first.items()} == {k: v[0] for k, v in second.items()}
