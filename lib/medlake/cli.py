"""What every job's ``main`` shares: logging, configuration, the session, errors to exit codes."""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
from typing import TYPE_CHECKING, Any, Callable

from medlake.config import MedlakeConfig, load_config
from medlake.errors import ConfigError, MedlakeError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from medlake.runs import RunSummary

__all__ = ["EXIT_BAD_ARGUMENTS", "EXIT_FAILED", "EXIT_OK", "configure_logging", "run_job"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_ARGUMENTS = 0, 1, 2

LOGGER = logging.getLogger(__name__)


class _JvmStderr(io.TextIOBase):
    """Python's stderr written to the JVM's own ``System.err``.

    ``spark-submit`` runs the driver's Python with stderr merged into stdout (PythonRunner's
    ``redirectErrorStream``), which would mix logs into a job's output; writing through the JVM
    keeps stdout for results only.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._stream.print(text)
        return len(text)

    def flush(self) -> None:
        self._stream.flush()


def _separate_stderr() -> None:
    """Under spark-submit, send ``sys.stderr`` to the JVM's stderr (see :class:`_JvmStderr`)."""
    if "PYSPARK_GATEWAY_PORT" not in os.environ or isinstance(sys.stderr, _JvmStderr):
        return
    from pyspark import SparkContext

    SparkContext._ensure_initialized()  # joins spark-submit's running JVM
    jvm = SparkContext._jvm
    if jvm is not None:
        sys.stderr = _JvmStderr(jvm.System.err)


def configure_logging() -> None:
    """Log medlake's stage lines at INFO and everything else at WARNING, on stderr."""
    _separate_stderr()
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("medlake").setLevel(logging.INFO)


def _report(error: MedlakeError) -> int:
    """Print medlake's own error message on stderr; return 2 for configuration errors, else 1."""
    print(f"medlake: {error}", file=sys.stderr)
    return EXIT_BAD_ARGUMENTS if isinstance(error, ConfigError) else EXIT_FAILED


def run_job(
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    body: Callable[["SparkSession", MedlakeConfig, argparse.Namespace], "RunSummary"],
    *,
    summary_stream: str = "stdout",
) -> int:
    """Parse arguments, build the session, run ``body`` and map the outcome to an exit code.

    Returns 0 on success, 1 when the job failed (the reason on stderr), 2 for bad arguments or
    configuration. The summary's one line goes to ``summary_stream``.
    """
    configure_logging()
    args = parser.parse_args(argv)  # exits 2 on bad arguments
    from medlake.spark_session import build_session

    try:
        config = load_config()
        spark = build_session(config)
    except MedlakeError as error:
        return _report(error)
    try:
        summary = body(spark, config, args)
    except MedlakeError as error:
        return _report(error)
    except Exception as error:  # Spark and library errors: their first line, not a stack trace
        first_line = (str(error).strip().splitlines() or [""])[0][:500]
        print(f"medlake: the job failed: {type(error).__name__}: {first_line}", file=sys.stderr)
        LOGGER.debug("Job failure", exc_info=True)
        return EXIT_FAILED
    finally:
        sys.stdout.flush()
        spark.stop()
    print(summary.one_line(), file=sys.stdout if summary_stream == "stdout" else sys.stderr)
    sys.stdout.flush()
    sys.stderr.write(summary.stage_table() + "\n")  # one write: lines of the JVM's stderr do not split it
    return EXIT_OK if summary.status == "succeeded" else EXIT_FAILED
