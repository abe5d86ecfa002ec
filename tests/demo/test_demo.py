"""./demo.sh end to end: every stage, then the tables, the seed query both ways and the summaries."""

from __future__ import annotations

import re

import pytest


from .conftest import DemoResult

pytestmark = pytest.mark.slow

STAGES = ("DICOM ingest", "FHIR ingest", "HTJ2K transcode", "features", "quality")
JOBS = ("dicom_ingest", "fhir_ingest", "htj2k_transcode", "features", "quality")


def _section(output: str, title: str) -> list[list[str]]:
    """Return the rows (header first) of the text table printed under ``== <title>``."""
    lines = output.split(f"\n== {title}", 1)[1].splitlines()[1:]
    table = []
    for line in lines:
        if not line.startswith(("|", "+")):
            break
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip("|").split("|")])
    return table


def _succeeded(demo: DemoResult) -> str:
    assert demo.result.returncode == 0, demo.result.stderr[-4000:]
    return demo.result.stdout


def test_every_stage_runs_and_says_so(demo: DemoResult) -> None:
    out = _succeeded(demo)
    for number, name in enumerate(STAGES, 1):
        assert f"medlake demo [{number}/5] {name}" in demo.result.stderr
    for job in JOBS:
        assert re.search(rf"^medlake {job} succeeded run=[0-9a-f]{{32}}: ", out, re.M), job
    assert re.fullmatch(r"medlake demo succeeded run=[0-9a-f]{32}: quality_failed=0, stages=5",
                        out.strip().splitlines()[-1])
    stage_table = demo.result.stderr.rsplit("stage ", 1)[1]
    assert all(name in stage_table for name in (*STAGES, "queries", "total"))


def test_the_tables_hold_what_the_demo_loaded(demo: DemoResult) -> None:
    counts = {row[0]: int(row[1]) for row in _section(_succeeded(demo), "tables")[1:]}
    assert counts["fhir.patient"] >= 20 and counts["dicom.instance"] > 0 and counts["ml.image_features"] > 0
    assert counts["fhir.quarantine"] == 9 and counts["dicom.quarantine"] > 0  # the generator's bad inputs
    assert counts["dicom.frame"] == counts["ml.image_features"]
    assert all(count > 0 for count in counts.values()), counts


def test_the_seed_query_by_url_shows_values(demo: DemoResult) -> None:
    out = _succeeded(demo)
    header, *rows = _section(out, "the same by extension URL (values where the positions miss)")
    assert header == ["FirstName", "LastName", "MothersMaidenName", "birthPlace"]
    assert len(rows) == 5 and all(row[1] != "NULL" for row in rows)
    assert all(row[2] != "NULL" and row[3] != "NULL" for row in rows)
    assert len(_section(out, "the seed query (extensions by position, as the contract states it)")) == 6


def test_the_quality_and_compression_summaries(demo: DemoResult) -> None:
    out = _succeeded(demo)
    quality = re.search(r"\n== (quality summary \(run [0-9a-f]{32}; [^\n]*)", out)
    assert quality is not None
    header, *suites = _section(out, quality.group(1))
    assert header == ["suite", "expectations", "failed_critical", "failed_warning"]
    assert {"fhir.patient", "fhir.references", "dicom.frame", "ops.ledger"} <= {row[0] for row in suites}
    assert all(int(row[1]) > 0 and row[2] == "0" for row in suites)
    header, *groups = _section(out, "compression summary (dicom.frame)")
    assert header == ["modality", "action", "frames", "raw_bytes", "stored_bytes", "ratio"]
    ct = [row for row in groups if row[0] == "CT" and row[1] == "transcoded"]
    assert ct and float(ct[0][5]) > 1.0
    assert (demo.home / "reports" / "quality" / "index.html").is_file()
