"""Feature benchmark: the ml tables' build against the HTJ2K decode floor, on one generated lake.

Not a test (pytest does not collect it). On a lake of generated patients (FHIR and DICOM of the
same roster, transcoded to HTJ2K; building it is not timed) it measures

(a) ``medlake.features.build`` on empty ``ml`` tables: the patient features stage (patients/s) and the image features
    stage (frames/s), from the run's stage table;
(b) the floor: every stored frame of ``dicom.frame`` decoded in one process (the bytes fetched
    beforehand), multiplied by the number of cores;

and prints (a) image features as a share of (b). Target: at least 50 % on 300 patients.

Run::

    .venv/bin/python benchmarks/features.py                  # 300 patients, 512x512 images
    .venv/bin/python benchmarks/features.py --tiny           # the lake as it is if it holds FHIR and
                                                             # frames (benchmarks/tiny.py runs it last),
                                                             # else 1 patient at 16x16 (CI)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from medlake.config import load_config
from medlake.metastore import stop_server
from medlake.features.tables import IMAGE_FEATURES, IMAGING_LINK, PATIENT_FEATURES, PATIENT_KEY
from medlake.spark_session import build_session

ML_TABLES = (PATIENT_KEY, IMAGING_LINK, PATIENT_FEATURES, IMAGE_FEATURES)

#: Key of the benchmark's lake only; a real lake's secret comes from the environment.
_SECRET = "medlake-benchmark-only-feature-key"


def _build_lake(spark: Any, root: Path, patients: int, size: int) -> None:
    """Generate the roster and load both halves (not timed)."""
    import medlake
    from medlake.synthetic.__main__ import main as generate

    data = root / "data"
    if generate(["--out", str(data), "--patients", str(patients), "--seed", "7", "--dicom",
                 "--rows", str(size), "--columns", str(size)]) != 0:
        raise SystemExit("Unable to generate the benchmark's data")
    medlake.fhir.ingest(spark, [str(data / "fhir")])
    medlake.dicom.ingest(spark, [str(data / "dicom")])
    medlake.dicom.transcode(spark)


def _floor(spark: Any) -> tuple[float, int, int]:
    """Decode every stored frame in this process; return seconds, frames and pixels."""
    from medlake.dicom.frames.stored import DECODE_COLUMNS, decode_stored_row

    rows = spark.table("dicom.frame").where("data IS NOT NULL").select(*DECODE_COLUMNS).collect()
    started = time.perf_counter()
    pixels = 0
    for row in rows:
        frame = decode_stored_row(list(row))
        pixels += 0 if frame is None else frame.size
    return time.perf_counter() - started, len(rows), pixels


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the CI smoke run (see the module docstring)")
    parser.add_argument("--patients", type=int, default=300, help="generated patients (not with --tiny)")
    parser.add_argument("--size", type=int, default=512, help="rows and columns of the images (not with --tiny)")
    args = parser.parse_args(argv)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    from medlake.features.job import run_features

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="medlake-bench-features-") as tmp:
        config = load_config("local", environ={"MEDLAKE_HOME": str(Path(tmp, "home")), "MEDLAKE_FEATURE_KEY": _SECRET})
        owned = SparkSession.getActiveSession() is None  # benchmarks/tiny.py shares one session
        spark = build_session(config, {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"})
        try:
            reuse = args.tiny and all(spark.catalog.tableExists(t) for t in ("fhir.patient", "dicom.frame"))
            if not reuse:
                _build_lake(spark, Path(tmp), 1 if args.tiny else args.patients, 16 if args.tiny else args.size)
            for table in ML_TABLES:  # a first build: every frame decoded, every row written
                spark.sql(f"DROP TABLE IF EXISTS {table}")
            summary = run_features(spark, config)
            floor_seconds, frames, pixels = _floor(spark)
        finally:
            if owned:
                spark.stop()
                stop_server(config)  # the shared metastore of this run's home
    patient_seconds = summary.stages["patient features"].seconds
    image_seconds = summary.stages["image features"].seconds
    counts = summary.counts
    image_rate = counts["frames_decoded"] / image_seconds if image_seconds else 0.0
    floor_rate = frames / floor_seconds * cores if floor_seconds else 0.0
    print(f"{counts['patients']} patients, {counts['frames']} frames ({frames} stored, {pixels / 1e6:.2f} Mpixel); "
          f"{cores} cores; lake {'as found' if reuse else 'generated'}")
    print(f"job counts: {counts}")
    print(summary.stage_table())
    print("| measure | value |")
    print("|---|---|")
    print(f"| job end to end | {summary.wall_seconds:.1f} s |")
    print(f"| (a) patient features | {patient_seconds:.1f} s, {counts['patients'] / patient_seconds:.1f} patients/s |")
    print(f"| (a) image features | {image_seconds:.1f} s, {image_rate:.1f} frames/s |")
    print(f"| (b) decode floor, one process | {floor_seconds:.2f} s, {frames / floor_seconds if floor_seconds else 0:.1f} "
          "frames/s |")
    print(f"| (b) floor x {cores} cores | {floor_rate:.1f} frames/s |")
    print(f"| (a)/(b) image features | {image_rate / floor_rate if floor_rate else 0:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
