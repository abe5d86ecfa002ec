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


def _needs_demo(item: pytest.Item) -> bool:
    return "demo" in getattr(item, "fixturenames", ())


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the API doctests and then the demo's tests last; start the demo now, in the background."""
    items.sort(key=lambda item: (_is_api_doctest(item), _needs_demo(item)))  # stable: the rest keep their order
    if any(map(_needs_demo, items)):
        from tests.demo.run import DEMO_RUN, DemoRun

        config.stash[DEMO_RUN] = DemoRun()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop the demo if it still runs (a test run cut short) and remove its files."""
    from tests.demo.run import DEMO_RUN

    if (run := session.config.stash.get(DEMO_RUN, None)) is not None:
        run.close()


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
