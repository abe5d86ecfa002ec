"""One SparkSession with Delta for the whole test run (tests and the library's doctests), in a
temporary MEDLAKE_HOME."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from _pytest.doctest import DoctestItem

from medlake.config import MedlakeConfig, load_config

#: Doctests of the library API, which run jobs: they get ``spark`` (the run's session) and ``medlake``,
#: and run last, so that what they load cannot change what the tests find in the shared lake.
_API_DOCTESTS = {"medlake.session", "medlake.fhir.ingest", "medlake.dicom.ingest", "medlake.dicom.transcode"}


def _is_api_doctest(item: pytest.Item) -> bool:
    return isinstance(item, DoctestItem) and item.name in _API_DOCTESTS


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the API doctests last."""
    items.sort(key=_is_api_doctest)  # stable: every other item keeps its place


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Two scopes for ``./test.sh``'s two workers: the process tests (:data:`tests.conftest.PROCESS_TESTS`)
    and everything else, each run whole on one worker in collection order."""
    from xdist.scheduler import LoadScopeScheduling

    from tests.conftest import PROCESS_TESTS

    class ProcessesBesideSession(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return "processes" if nodeid.startswith(PROCESS_TESTS) else "session"

    return ProcessesBesideSession(config, log)


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
    from medlake.spark_session import build_session

    session = build_session(config)
    yield session
    session.stop()


@pytest.fixture(autouse=True)
def _library_api_doctests(request: pytest.FixtureRequest, doctest_namespace: dict[str, object]) -> None:
    if _is_api_doctest(request.node):
        import medlake

        doctest_namespace.update(spark=request.getfixturevalue("spark"), medlake=medlake)
