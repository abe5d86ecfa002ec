"""DICOM ingest throughput: medlake's Spark job vs a single-process loop doing the same per-file work.

    .venv/bin/python benchmarks/dicom_ingest.py --files 2000

Generates about ``--files`` synthetic DICOM files (the roster's CT/MR/multi-frame/RGB studies) in a
temporary directory, then times, in the same run:

* ``loop``: one Python process reading each file and calling ``read_instance`` (parse, typed row,
  DICOM JSON, SHA-256): the per-file work of the job, without Spark and without writing tables;
* ``parse``: the job's read-and-parse stage alone (JVM ``binaryFile`` + ``mapInPandas`` on every core),
  materialised with a count;
* ``job``: the whole ``run_dicom_ingest`` into an empty lakehouse (manifest planning with hashing,
  parse, duplicates, MERGE into dicom.instance, series, study, image sets, ops.files, ops.runs).

Prints files per second and the ratio to the loop for each. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from pyspark.sql import SparkSession

from medlake.config import load_config
from medlake.metastore import stop_server
from medlake.dicom.header import HeaderOptions, read_instance
from medlake.dicom.ingest_job import READ_SETTINGS, read_dicom_files, run_dicom_ingest
from medlake.listing import list_files
from medlake.spark_session import build_session
from medlake.synthetic.__main__ import main as generate

_INSTANCES_PER_SERIES = 6
# Per 4 patients the generator writes 4 studies (the first patient has two, the last none), each a CT
# or MR series plus one RGB or multi-frame instance: instances per series + 1 files per patient.
_FILES_PER_PATIENT = _INSTANCES_PER_SERIES + 1


def _generate(directory: Path, files: int) -> list[Path]:
    patients = max(4, round(files / _FILES_PER_PATIENT))
    generate(["--out", str(directory), "--patients", str(patients), "--seed", "7", "--dicom",
              "--instances-per-series", str(_INSTANCES_PER_SERIES)])
    return sorted(p for p in (directory / "dicom").rglob("*.dcm"))


def _loop(paths: list[Path], options: HeaderOptions) -> float:
    started = time.perf_counter()
    for path in paths:
        record = read_instance(path.read_bytes(), path.as_uri(), options)
        if record.outcome != "loaded":
            raise RuntimeError(f"Unable to benchmark as {path.name} was not loaded ({record.reason})")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=2000, help="about how many DICOM files to generate")
    parser.add_argument("--tiny", action="store_true", help="about 50 files (the CI smoke run)")
    args = parser.parse_args(argv)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # in-process sessions start workers with it
    with tempfile.TemporaryDirectory(prefix="medlake-bench-") as scratch:
        root = Path(scratch)
        paths = _generate(root / "data", 50 if args.tiny else args.files)
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        config = load_config("local", environ={"MEDLAKE_HOME": str(root / "home")})
        options = HeaderOptions.from_config(config.dicom)
        owned = SparkSession.getActiveSession() is None  # benchmarks/tiny.py shares one session
        spark = build_session(config)
        cores = spark.sparkContext.defaultParallelism
        try:
            _loop(paths[:20], options)  # imports and caches, as the workers' first batch does
            loop = _loop(paths, options)
            started = time.perf_counter()
            for key, value in READ_SETTINGS.items():  # as run_dicom_ingest sets them while parsing
                spark.conf.set(key, value)
            listed = [(f.uri, f.size) for f in list_files(spark, [str(root / "data" / "dicom")])]
            parsed = read_dicom_files(spark, listed, options).count()
            parse = time.perf_counter() - started
            started = time.perf_counter()
            summary = run_dicom_ingest(spark, config, [str(root / "data" / "dicom")])
            job = time.perf_counter() - started
        finally:
            if owned:
                spark.stop()
                stop_server(config)  # the shared metastore of this run's home
    if parsed != len(paths) or summary.counts.get("loaded") != len(paths):
        print(f"Unable to benchmark as {parsed} files were parsed and {summary.counts.get('loaded')} loaded "
              f"of {len(paths)}", file=sys.stderr)
        return 1
    print(f"{len(paths)} files, {megabytes:.1f} MB, Spark master {spark.sparkContext.master} ({cores} cores), "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"| {'what':<40} | {'seconds':>8} | {'files/s':>8} | {'vs loop':>7} |")
    print(f"|{'-' * 42}|{'-' * 10}|{'-' * 10}|{'-' * 9}|")
    for name, seconds in (("single-process loop (read_instance)", loop),
                          ("Spark read + parse (mapInPandas)", parse),
                          ("whole job (run_dicom_ingest)", job)):
        print(f"| {name:<40} | {seconds:>8.1f} | {len(paths) / seconds:>8.0f} | {loop / seconds:>6.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
