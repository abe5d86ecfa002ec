"""One SparkSession with Delta for the whole test run (tests and the library's doctests), in a
temporary MEDLAKE_HOME."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from _pytest.doctest import DoctestItem

from medlake.config import MedlakeConfig, load_config

#: Doctests of the library API, which run jobs: they get ``spark`` (the run's session) and ``medlake``.
_API_DOCTESTS = {"medlake.spark_session", "medlake.fhir.ingest", "medlake.dicom.ingest", "medlake.dicom.transcode"}


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
    if isinstance(request.node, DoctestItem) and request.node.name in _API_DOCTESTS:
        import medlake

        doctest_namespace.update(spark=request.getfixturevalue("spark"), medlake=medlake)
