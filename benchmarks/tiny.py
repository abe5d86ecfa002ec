"""Run every benchmark once at ``--tiny`` size in one process and one Spark session (the CI smoke run).

    .venv/bin/python benchmarks/tiny.py

Each benchmark's ``main(["--tiny"])`` runs in turn and joins the session built here (its own
``build_session`` call returns it and it leaves the session running), so CI pays one JVM start and
one Delta warm-up for all of them. The HTJ2K benchmark goes first: it transcodes every pending
instance of the lake, so it must not see the DICOM benchmark's. Their figures are smoke-run figures;
measure with each script on its own (see the README). Not collected by pytest.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

from medlake.config import load_config
from medlake.metastore import stop_server
from medlake.spark_session import build_session

_HERE = Path(__file__).resolve().parent
#: Spark-free first, then the HTJ2K job before the DICOM ingest (see above); the features last, over
#: the lake the others left.
ORDER = ("htj2k_codec", "htj2k", "dicom_ingest", "fhir_ingest", "features")


def _benchmark_main(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", _HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module.main


def main() -> int:
    """Run each benchmark at tiny size; return 1 if any failed."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    failed = []
    timings = []
    with tempfile.TemporaryDirectory(prefix="medlake-bench-tiny-") as home:
        os.environ["MEDLAKE_HOME"] = home
        config = load_config("local", environ={"MEDLAKE_HOME": home})
        spark = build_session(config, {"spark.ui.showConsoleProgress": "false"})
        try:
            for name in ORDER:
                print(f"== benchmarks/{name}.py --tiny", flush=True)
                started = time.perf_counter()
                status = _benchmark_main(name)(["--tiny"])
                timings.append((name, time.perf_counter() - started, status))
                if status:
                    failed.append(name)
        finally:
            spark.stop()
            stop_server(config)
    for name, seconds, status in timings:
        print(f"medlake: benchmarks/{name}.py --tiny: {seconds:.1f} s, exit {status}", file=sys.stderr)
    if failed:
        print(f"medlake: Unable to pass the benchmark smoke run as {', '.join(failed)} failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
