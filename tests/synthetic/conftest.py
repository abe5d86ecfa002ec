"""Generated data shared by the synthetic-data tests: one run of the command line per session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from medlake.synthetic.__main__ import main
from medlake.synthetic.roster import RosterPatient, build_roster

PATIENTS = 8
SEED = 11


def read_ndjson(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the resources of an NDJSON file, decimals as Decimal."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line, parse_float=Decimal)


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the output directory of one full run (FHIR, Bundles, DICOM, bad inputs)."""
    out = tmp_path_factory.mktemp("synthetic")
    assert main(["--out", str(out), "--patients", str(PATIENTS), "--seed", str(SEED), "--dicom", "--bundles",
                 "--rows", "16", "--columns", "16"]) == 0
    return out


@pytest.fixture(scope="session")
def resources(generated: Path) -> dict[str, list[dict[str, Any]]]:
    """Return the generated resources by resource type."""
    return {path.name.split(".")[0]: list(read_ndjson(path)) for path in sorted((generated / "fhir").glob("*.ndjson"))}


@pytest.fixture(scope="session")
def roster() -> tuple[RosterPatient, ...]:
    """Return the roster the ``generated`` run wrote."""
    return build_roster(PATIENTS, SEED)
