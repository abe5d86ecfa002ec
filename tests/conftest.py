"""One SparkSession with Delta for the whole test run, in a temporary MEDLAKE_HOME."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from medlake.config import MedlakeConfig, load_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def medlake_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test session's MEDLAKE_HOME (tables, metastore, reports)."""
    return tmp_path_factory.mktemp("medlake-home")


@pytest.fixture(scope="session")
def config(medlake_home: Path) -> MedlakeConfig:
    """The ``test`` profile with the temporary home."""
    return load_config("test", environ={"MEDLAKE_HOME": str(medlake_home)})


@pytest.fixture(scope="session")
def spark(config: MedlakeConfig) -> Iterator["object"]:
    """The run's one SparkSession, built by medlake's own factory, stopped once at the end."""
    from medlake.session import build_session

    session = build_session(config)
    yield session
    session.stop()


def run_submit(*args: str, home: Path, profile: str = "test", timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """Run ``./spark-submit.sh ARGS`` as a user would, with its own MEDLAKE_HOME."""
    env = {**os.environ, "MEDLAKE_HOME": str(home), "MEDLAKE_PROFILE": profile}
    return subprocess.run([str(ROOT / "spark-submit.sh"), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
