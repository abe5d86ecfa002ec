"""Benchmark: medlake's FHIR ingest vs the naive way and the floor, on one generated data set.

    python benchmarks/fhir_ingest.py --resources 100000      # about 100 000 resources
    python benchmarks/fhir_ingest.py --wide                  # the same records over 23 types
    python benchmarks/fhir_ingest.py --tiny                  # CI smoke run (a few hundred)

In one Spark session (profile ``MEDLAKE_PROFILE``, default ``local``; tables under
``MEDLAKE_HOME``), on the same NDJSON files:

* **floor**: ``spark.read.text`` and one Delta write of the same bytes;
* **naive**: ``spark.read.json`` with schema inference, then one Delta write per resource type;
* **medlake**: :func:`medlake.fhir.ingest_job.run_fhir_ingest` (raw, typed with the full schemas, the
  lossless check, quarantine, manifest).

Prints resources/second, the ratios and the peak memory of the driver's Python process and of
the JVM (driver and, in local mode, executors: one process).

Then, unless ``--tiny``, as whole processes through ``./spark-submit.sh`` on a home of their own
(so each pays what a scheduled run pays: the JVM, the session, the metastore): one ingest of the
same files, then, in turn, a rerun on the unchanged files (every file skipped by the manifest)
and ``jobs/sql.py "SELECT 1"``, ``--pairs`` times; the medians and their ratio are printed.
Not collected by pytest.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pyspark.sql import SparkSession

from medlake.config import load_config
from medlake.metastore import stop_server
from medlake.fhir.ingest_job import run_fhir_ingest
from medlake.spark_session import build_session
from medlake.synthetic.fhir import write_ndjson
from medlake.synthetic.roster import iter_roster
from whole_processes import rerun_against_select_1

#: Resources the generator writes per patient, roughly (measured on seed 0).
_RESOURCES_PER_PATIENT = 60
_TINY_PATIENTS = 3


def _timed(step: Callable[[], object]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def _jvm_peak_bytes(spark: object) -> int:
    """Peak heap of the JVM (driver; executors too in local mode) from its memory pools."""
    jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
    pools = jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans()
    return sum(int(pool.getPeakUsage().getUsed()) for pool in pools
               if str(pool.getType()) == "Heap memory")


def _whole_processes(work: Path, data: Path, pairs: int) -> None:
    """Print the whole-process ingest, no-op rerun and ``SELECT 1`` times (medians of ``pairs``)."""
    home = work / "submit-home"
    first, rerun, baseline = rerun_against_select_1(home, ("jobs/fhir_ingest.py", "--input", str(data)), pairs)
    print(f"whole processes (./spark-submit.sh, median of {pairs})        seconds  vs SELECT 1")
    for name, seconds in (("ingest", first), ("no-op rerun (every file unchanged)", rerun),
                          ('jobs/sql.py "SELECT 1"', baseline)):
        print(f"{name:<48} {seconds:>8.1f} {seconds / baseline:>10.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=100_000, help="about this many resources")
    parser.add_argument("--tiny", action="store_true", help="a few hundred resources (CI)")
    parser.add_argument("--wide", action="store_true", help="spread the records over 23 types (Synthea's spread)")
    parser.add_argument("--pairs", type=int, default=3, help="no-op rerun / SELECT 1 pairs (not with --tiny)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    patients = _TINY_PATIENTS if args.tiny else max(1, args.resources // _RESOURCES_PER_PATIENT)
    work = Path(tempfile.mkdtemp(prefix="medlake-bench-"))
    try:
        data = work / "fhir"
        per_type = write_ndjson(data, iter_roster(patients, args.seed), args.seed, wide=args.wide)
        total = sum(per_type.values())
        size = sum(p.stat().st_size for p in data.iterdir())
        config = load_config()
        owned = SparkSession.getActiveSession() is None  # benchmarks/tiny.py shares one session
        spark = build_session(config)
        files = [str(p) for p in sorted(data.iterdir())]
        out = work / "delta"

        def floor() -> None:
            spark.read.text(files).write.format("delta").mode("overwrite").save(str(out / "floor"))

        def naive() -> None:
            for path in files:
                spark.read.json(path).write.format("delta").mode("overwrite").save(
                    str(out / "naive" / Path(path).stem))

        summaries = []
        timings = {
            "floor (read.text + Delta write)": _timed(floor),
            "naive (read.json inference + Delta per type)": _timed(naive),
            "medlake (raw + typed + lossless + quarantine)": _timed(
                lambda: summaries.append(run_fhir_ingest(spark, config, [str(data)]))),
        }
        counts = summaries[0].counts
        print(summaries[0].one_line())
        print(summaries[0].stage_table())
        if counts.get("loaded") != total:
            print(f"Unable to count the run as a load of all {total} resources: {counts}", file=sys.stderr)
            return 1
        naive_seconds = timings["naive (read.json inference + Delta per type)"]
        print(f"{total} resources of {len(per_type)} types, {size / 1e6:.1f} MB in {len(files)} files, "
              f"{patients} patients")
        print(f"{'method':<48} {'seconds':>8} {'res/s':>9} {'vs naive':>9}")
        for name, seconds in timings.items():
            print(f"{name:<48} {seconds:>8.1f} {total / seconds:>9.0f} {seconds / naive_seconds:>8.2f}x")
        python_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory: driver Python {python_peak:.0f} MiB, JVM heap pools (driver+executors, "
              f"local mode) {_jvm_peak_bytes(spark) / 2**20:.0f} MiB")
        if owned:
            spark.stop()
            stop_server(config)  # the shared metastore of this run's home
        if not args.tiny:
            _whole_processes(work, data, args.pairs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
