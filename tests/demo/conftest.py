"""``./demo.sh`` run once, as a user runs it, in a temporary MEDLAKE_HOME; its lake serves the notebook test."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from medlake.config import load_config
from medlake.metastore import stop_server
from tests.conftest import ROOT


@dataclass(frozen=True)
class DemoResult:
    """The demo's home and output."""

    home: Path
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoResult]:
    """The demo on the ``local`` profile (its shared metastore server, stopped at the end)."""
    home = tmp_path_factory.mktemp("demo-home")
    environ = {**os.environ, "MEDLAKE_HOME": str(home), "MEDLAKE_PROFILE": "local"}
    result = subprocess.run([str(ROOT / "demo.sh")], cwd=ROOT, env=environ, capture_output=True, text=True,
                            timeout=1200, check=False)
    yield DemoResult(home, result)
    stop_server(load_config("local", environ=environ))
