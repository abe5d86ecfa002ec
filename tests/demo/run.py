"""``./demo.sh`` as a user runs it, in a temporary MEDLAKE_HOME, started in the background.

The root conftest starts it when the session has collected a test that needs it, so the demo's
own process (mostly driver-side planning and commits) overlaps the in-process tests, which leave
a core idle most of the time; the tests that read its output run last.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT

#: Where the root conftest keeps the run it started.
DEMO_RUN = pytest.StashKey["DemoRun"]()
#: How long the demo may take, background contention included.
TIMEOUT_SECONDS = 1200


@dataclass(frozen=True)
class DemoResult:
    """The demo's home, environment, output and wall seconds (from its start to its exit)."""

    home: Path
    environ: dict[str, str]
    result: subprocess.CompletedProcess[str]
    seconds: float


@dataclass
class DemoRun:
    """One ``./demo.sh`` process on the ``local`` profile (its shared metastore) and its output files."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="medlake-demo-")))

    def __post_init__(self) -> None:
        self.home = self.root / "home"
        self.environ = {**os.environ, "MEDLAKE_HOME": str(self.home), "MEDLAKE_PROFILE": "local"}
        self._out, self._err = (open(self.root / name, "w+", encoding="utf-8") for name in ("stdout", "stderr"))
        self._started = time.monotonic()
        self._process = subprocess.Popen([str(ROOT / "demo.sh")], cwd=ROOT, env=self.environ, text=True,
                                         stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err)

    def wait(self) -> DemoResult:
        """Wait for the demo to end; return its result."""
        code = self._process.wait(timeout=TIMEOUT_SECONDS)
        seconds = time.monotonic() - self._started
        self._out.seek(0)
        self._err.seek(0)
        result = subprocess.CompletedProcess(self._process.args, code, self._out.read(), self._err.read())
        return DemoResult(self.home, self.environ, result, seconds)

    def close(self) -> None:
        """Stop the demo if it still runs, stop its metastore server, remove its files."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        subprocess.run([str(ROOT / "spark-submit.sh"), "--metastore", "stop"], cwd=ROOT, env=self.environ,
                       check=False, capture_output=True)
        self._out.close()
        self._err.close()
        shutil.rmtree(self.root, ignore_errors=True)
