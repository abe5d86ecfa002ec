"""The features section of the profile and the key secret (no Spark)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from medlake.config import load_config
from medlake.errors import ConfigError

SECRET = "a-secret-from-the-environment"
LIB = Path(__file__).resolve().parents[2] / "lib"


def test_the_environment_secret_wins_and_is_not_shown(tmp_path: Path) -> None:
    config = load_config("test", environ={"MEDLAKE_HOME": str(tmp_path), "MEDLAKE_FEATURE_KEY": SECRET})
    assert (config.features.patient_key_secret, config.features.top_conditions) == (SECRET, 5)
    assert SECRET not in repr(config)


def test_the_local_profile_ships_no_secret(tmp_path: Path) -> None:
    assert load_config("local", environ={"MEDLAKE_HOME": str(tmp_path)}).features.patient_key_secret is None


def test_top_conditions_must_be_a_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bad.yaml").write_text("features:\n  top_conditions: -1\n")
    monkeypatch.setenv("MEDLAKE_CONF_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="top_conditions"):
        load_config("bad", environ={"MEDLAKE_HOME": str(tmp_path)})


@pytest.mark.parametrize("module", ["medlake.features", "medlake.features.job", "medlake.features.loader"])
def test_import_does_not_import_pyspark(module: str) -> None:
    code = f"import sys, {module}; sys.exit(1 if 'pyspark' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(LIB)}).returncode == 0
