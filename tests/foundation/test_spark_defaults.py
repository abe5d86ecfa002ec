"""The one PySpark-free source of session settings, and what the wrapper passes to spark-submit."""

import subprocess
import sys
from pathlib import Path

import pytest

from medlake.config import load_config
from medlake.spark_defaults import DELTA_CATALOG, DELTA_EXTENSION, delta_coordinate, delta_jars, session_settings

ROOT = Path(__file__).resolve().parents[2]


def test_delta_coordinate_follows_installed_wheels() -> None:
    import importlib.metadata

    spark_minor = ".".join(importlib.metadata.version("pyspark").split(".")[:2])
    assert delta_coordinate() == f"io.delta:delta-spark_{spark_minor}_2.13:{importlib.metadata.version('delta-spark')}"


def test_resolved_jars_hold_delta_and_not_spark_provided_ones() -> None:
    names = [jar.name for jar in delta_jars()]
    assert any(name.startswith("io.delta_delta-spark_") for name in names)
    assert any(name.startswith("io.delta_delta-storage-") for name in names)
    assert not any("hadoop-client-api" in name or "jackson-core" in name for name in names)


def test_session_settings_have_delta_metastore_and_python(tmp_path: Path) -> None:
    config = load_config("test", environ={"MEDLAKE_HOME": str(tmp_path)})
    settings = session_settings(config)
    assert settings["spark.sql.extensions"] == DELTA_EXTENSION
    assert settings["spark.sql.catalog.spark_catalog"] == DELTA_CATALOG
    assert settings["spark.sql.warehouse.dir"] == f"{tmp_path}/warehouse"
    assert f"databaseName={tmp_path}/metastore_db" in settings["spark.hadoop.javax.jdo.option.ConnectionURL"]
    assert f"-Dderby.system.home={tmp_path}" in settings["spark.driver.extraJavaOptions"]
    assert settings["spark.pyspark.python"] == sys.executable
    assert settings["spark.ui.enabled"] == "false"  # the profile's own settings come last


def test_wrapper_gets_the_same_settings(tmp_path: Path) -> None:
    env = {"MEDLAKE_HOME": str(tmp_path), "MEDLAKE_PROFILE": "test", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "medlake.spark_defaults", "submit-args"], env=env,
                         capture_output=True, check=True).stdout.decode()
    args = out.rstrip("\0").split("\0")
    confs = dict(args[i + 1].split("=", 1) for i, arg in enumerate(args) if arg == "--conf")
    expected = session_settings(load_config("test", environ={"MEDLAKE_HOME": str(tmp_path)}))
    assert confs == expected
    assert args[args.index("--master") + 1] == "local[2]"
    assert args[args.index("--py-files") + 1].endswith("build/medlake.zip")


def test_submit_args_fail_with_exit_2_on_unknown_profile() -> None:
    result = subprocess.run([sys.executable, "-m", "medlake.spark_defaults", "submit-args"],
                            env={"MEDLAKE_PROFILE": "nope", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert result.returncode == 2
    assert "Unable to load profile 'nope'" in result.stderr


@pytest.mark.parametrize("module", ["medlake", "medlake.config", "medlake.errors", "medlake.spark_defaults",
                                    "medlake.tables", "medlake.manifest", "medlake.runs", "medlake.quarantine"])
def test_import_does_not_import_pyspark(module: str) -> None:
    code = f"import sys, {module}; sys.exit(1 if 'pyspark' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
