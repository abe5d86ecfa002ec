import hashlib
from pathlib import Path

from medlake.synthetic.__main__ import main
from medlake.synthetic.roster import build_roster

ARGS = ["--patients", "4", "--dicom", "--bundles", "--gzip", "--rows", "16", "--columns", "16"]


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_writes_identical_bytes(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path / "a"), "--seed", "5", *ARGS]) == 0
    assert main(["--out", str(tmp_path / "b"), "--seed", "5", *ARGS]) == 0
    first, second = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert len(first) > 50
    assert first == second


def test_another_seed_writes_other_data(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path / "a"), "--seed", "5", *ARGS]) == 0
    assert main(["--out", str(tmp_path / "b"), "--seed", "6", *ARGS]) == 0
    first, second = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert first["fhir/Patient.ndjson.gz"] != second["fhir/Patient.ndjson.gz"]
    assert not set(first) & {p for p in second if p.startswith("dicom/")}


def test_roster_of_n_is_the_start_of_a_larger_roster() -> None:
    assert build_roster(5, seed=2) == build_roster(9, seed=2)[:5]


def test_file_names_carry_no_patient_names(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path), "--seed", "5", *ARGS]) == 0
    names = {part for path in tmp_path.rglob("*") for part in path.relative_to(tmp_path).parts}
    for patient in build_roster(4, seed=5):
        groups = [patient.name.alphabetic, patient.name.ideographic, patient.name.phonetic]
        for group in filter(None, groups):
            assert not any(group.family in name or group.given in name for name in names)
