"""Benchmark: medlake's FHIR ingest vs the naive way and the floor, on one generated data set.

    python benchmarks/fhir_ingest.py --resources 100000      # about 100 000 resources
    python benchmarks/fhir_ingest.py --tiny                  # CI smoke run (a few hundred)

In one Spark session (profile ``MEDLAKE_PROFILE``, default ``local``; tables under
``MEDLAKE_HOME``), on the same NDJSON files:

* **floor**: ``spark.read.text`` and one Delta write of the same bytes;
* **naive**: ``spark.read.json`` with schema inference, then one Delta write per resource type;
* **medlake**: :func:`medlake.fhir.ingest.run_fhir_ingest` (raw, typed with the full schemas, the
  lossless check, quarantine, manifest).

Prints resources/second, the ratios and the peak memory of the driver's Python process and of
the JVM (driver and, in local mode, executors: one process). Not collected by pytest.
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
from medlake.fhir.ingest import run_fhir_ingest
from medlake.session import build_session
from medlake.synthetic.fhir import write_ndjson
from medlake.synthetic.roster import iter_roster

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=100_000, help="about this many resources")
    parser.add_argument("--tiny", action="store_true", help="a few hundred resources (CI)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    patients = _TINY_PATIENTS if args.tiny else max(1, args.resources // _RESOURCES_PER_PATIENT)
    work = Path(tempfile.mkdtemp(prefix="medlake-bench-"))
    try:
        data = work / "fhir"
        counts = write_ndjson(data, iter_roster(patients, args.seed), args.seed)
        total = sum(counts.values())
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
        if counts.get("loaded") != total:
            print(f"Unable to count the run as a load of all {total} resources: {counts}", file=sys.stderr)
            return 1
        naive_seconds = timings["naive (read.json inference + Delta per type)"]
        print(f"{total} resources, {size / 1e6:.1f} MB in {len(files)} files, {patients} patients")
        print(f"{'method':<48} {'seconds':>8} {'res/s':>9} {'vs naive':>9}")
        for name, seconds in timings.items():
            print(f"{name:<48} {seconds:>8.1f} {total / seconds:>9.0f} {seconds / naive_seconds:>8.2f}x")
        python_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory: driver Python {python_peak:.0f} MiB, JVM heap pools (driver+executors, "
              f"local mode) {_jvm_peak_bytes(spark) / 2**20:.0f} MiB")
        if owned:
            spark.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
