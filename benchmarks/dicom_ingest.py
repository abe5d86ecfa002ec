"""DICOM ingest throughput: medlake's Spark job vs a single-process loop doing the same per-file work.

    .venv/bin/python benchmarks/dicom_ingest.py --files 4000
    .venv/bin/python benchmarks/dicom_ingest.py --files 40000 --pairs 0   # no whole-process reruns

Generates about ``--files`` synthetic DICOM files (the roster's CT/MR/multi-frame/RGB studies) in a
temporary directory, then times, in the same run and on the same files:

* ``loop``: one Python process reading each file and calling ``read_instance`` (parse, typed row,
  DICOM JSON, SHA-256): the per-file work of the job, without Spark and without writing tables;
* ``parse``: the job's read-and-parse stage alone (JVM ``binaryFile`` + ``mapInPandas`` on every core),
  materialised with a count;
* ``job``: the whole ``run_dicom_ingest`` into an empty lakehouse (manifest planning, parse with
  hashing, duplicates, dicom.instance, series, study, image sets, quarantine, ops.files, ops.runs),
  with its stage table;

then, unless ``--tiny`` or ``--pairs 0``, as whole processes through ``./spark-submit.sh`` on a home of
their own: one ingest of the same files, then in turn a no-op rerun (every file unchanged) and
``jobs/sql.py "SELECT 1"``, ``--pairs`` times (medians). Prints one table with the issue's targets.
Not collected by pytest.
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
from medlake.dicom.header import HeaderOptions, read_instance
from medlake.dicom.ingest_job import READ_SETTINGS, read_dicom_files, run_dicom_ingest
from medlake.listing import list_files
from medlake.metastore import stop_server
from medlake.spark_session import build_session
from medlake.synthetic.__main__ import main as generate
from whole_processes import rerun_against_select_1

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
    parser.add_argument("--files", type=int, default=4000, help="about how many DICOM files to generate")
    parser.add_argument("--tiny", action="store_true", help="about 50 files (the CI smoke run)")
    parser.add_argument("--pairs", type=int, default=3, help="no-op rerun / SELECT 1 pairs (not with --tiny)")
    args = parser.parse_args(argv)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # in-process sessions start workers with it
    with tempfile.TemporaryDirectory(prefix="medlake-bench-") as scratch:
        root = Path(scratch)
        paths = _generate(root / "data", 50 if args.tiny else args.files)
        data = root / "data" / "dicom"
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
            parsed = read_dicom_files(spark, [(f.uri, f.size) for f in list_files(spark, [str(data)])],
                                      options).count()
            parse = time.perf_counter() - started
            started = time.perf_counter()
            summary = run_dicom_ingest(spark, config, [str(data)])
            job = time.perf_counter() - started
        finally:
            if owned:
                spark.stop()
                stop_server(config)  # the shared metastore of this run's home
        load = os.getloadavg()[0]
        if parsed != len(paths) or summary.counts.get("loaded") != len(paths):
            print(f"Unable to benchmark as {parsed} files were parsed and {summary.counts.get('loaded')} loaded "
                  f"of {len(paths)}", file=sys.stderr)
            return 1
        processes = None if args.tiny or args.pairs < 1 else rerun_against_select_1(
            root / "submit-home", ("jobs/dicom_ingest.py", "--input", str(data)), args.pairs)
    print(summary.one_line())
    print(summary.stage_table())
    print(f"{len(paths)} files, {megabytes:.1f} MB, Spark master {spark.sparkContext.master} ({cores} cores), "
          f"{os.cpu_count()} CPUs, load average {load:.1f} after the in-process runs, {os.getloadavg()[0]:.1f} at the end")
    parse_target, job_target = 1.6, 1.3 if len(paths) >= 20_000 else 1.0
    print(f"| {'what':<44} | {'seconds':>8} | {'files/s':>8} | {'ratio':>16} | {'target':>8} | met |")
    print(f"|{'-' * 46}|{'-' * 10}|{'-' * 10}|{'-' * 18}|{'-' * 10}|-----|")
    print(f"| {'single-process loop (read_instance)':<44} | {loop:>8.1f} | {len(paths) / loop:>8.0f} | {'':>16} | "
          f"{'':>8} |     |")
    for name, seconds, target in (("Spark read + parse (mapInPandas)", parse, parse_target),
                                  ("whole job (run_dicom_ingest)", job, job_target)):
        ratio = loop / seconds
        print(f"| {name:<44} | {seconds:>8.1f} | {len(paths) / seconds:>8.0f} | {ratio:>9.2f}x loop | "
              f"{f'>= {target}x':>8} | {'yes' if ratio >= target else 'no':<3} |")
    if processes is not None:
        first, rerun, select = processes
        for name, seconds in (("./spark-submit.sh jobs/dicom_ingest.py", first),
                              (f"no-op rerun (median of {args.pairs})", rerun),
                              (f'jobs/sql.py "SELECT 1" (median of {args.pairs})', select)):
            ratio = seconds / select
            target = "<= 1.5x" if name.startswith("no-op") else ""
            met = ("yes" if ratio <= 1.5 else "no") if target else ""
            print(f"| {name:<44} | {seconds:>8.1f} | {'':>8} | {ratio:>7.2f}x SELECT 1 | {target:>8} | {met:<3} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
