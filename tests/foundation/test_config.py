"""Profiles and environment overrides."""

from pathlib import Path

import pytest

from medlake.config import load_config
from medlake.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_default_home_is_the_project_root_whatever_the_working_directory(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config("local", environ={}).home == str(ROOT / "lakehouse")


def test_medlake_home_and_profile_come_from_the_environment(tmp_path: Path) -> None:
    config = load_config(environ={"MEDLAKE_HOME": str(tmp_path), "MEDLAKE_PROFILE": "test"})
    assert (config.profile, config.home, config.master) == ("test", str(tmp_path), "local[2]")


def test_object_store_home_is_kept_as_uri() -> None:
    config = load_config("local", environ={"MEDLAKE_HOME": "s3a://bucket/lake"})
    assert config.warehouse_dir == "s3a://bucket/lake/warehouse"


@pytest.mark.parametrize("profile, message", [
    ("missing", "does not exist"),
    ("../etc", "letters, digits"),
])
def test_bad_profiles_are_config_errors(profile: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(profile, environ={})


def test_unknown_keys_are_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "odd.yaml").write_text("dicom:\n  datastore: x\n")
    monkeypatch.setenv("MEDLAKE_CONF_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="section 'dicom' has unknown keys \\['datastore'\\]"):
        load_config("odd", environ={})


def test_cluster_profile_is_valid() -> None:
    config = load_config("cluster", environ={})
    assert not config.embedded_metastore
    assert config.home.startswith("s3a://")


def test_quality_section_has_defaults_and_checks_its_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = load_config("local", environ={}).quality
    assert (local.severity, local.max_unresolved_reference_fraction, local.compression_ratio) == (
        {}, 0.01, {"default": (1.0, 50.0)})
    (tmp_path / "odd.yaml").write_text("quality:\n  compression_ratio: {CT: [2, 1]}\n")
    monkeypatch.setenv("MEDLAKE_CONF_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="quality.compression_ratio must map 'default'"):
        load_config("odd", environ={})
