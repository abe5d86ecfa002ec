"""Every test module that runs whole processes is in PROCESS_TESTS, so ./test.sh runs it beside the
in-process tests rather than among them."""

from __future__ import annotations

import re

from tests.conftest import PROCESS_TESTS, ROOT

#: What a test module does to run a whole process of the project.
_RUNS_A_PROCESS = re.compile(r"\brun_submit\(|\"spark-submit\.sh\"|\"demo\.sh\"|\bNotebookClient\(")


def test_process_tests_are_listed() -> None:
    runners = {path.relative_to(ROOT).as_posix() for path in (ROOT / "tests").rglob("test_*.py")
               if _RUNS_A_PROCESS.search(path.read_text(encoding="utf-8"))}
    assert runners, "the pattern finds no process test: it no longer matches how tests run processes"
    assert sorted(path for path in runners if not path.startswith(PROCESS_TESTS)) == []
