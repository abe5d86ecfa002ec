"""Quality gates: Great Expectations suites over the lake's tables, ``ops.quality`` and an HTML report.

:func:`run` runs them (``jobs/quality.py`` is a thin call of it); the suites are in
:mod:`medlake.quality.suites`, the Great Expectations context in :mod:`medlake.quality.gx`, the
results table in :mod:`medlake.quality.results`, the job in :mod:`medlake.quality.gate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from medlake.runs import RunSummary

__all__ = ["run"]


def run(spark: "SparkSession", suites: Sequence[str] | None = None) -> "RunSummary":
    """Run the quality suites over the tables; write ``ops.quality`` and the report in ``MEDLAKE_HOME/reports/quality``.

    The job ``jobs/quality.py [--suite NAME ...]``: suites whose tables do not exist are skipped.

    Parameters
    ----------
    spark
        A session from :func:`medlake.session`.
    suites
        Names of the suites to run (``fhir.patient``, ``dicom.frame``, ``ops.ledger``, ...); default: all.

    Returns
    -------
    RunSummary
        Counts ``suites``, ``suites_skipped``, ``expectations``, ``failed_critical``, ``failed_warning``.

    Raises
    ------
    JobError
        If a critical expectation failed (``ops.quality`` and the report are written first).

    Examples
    --------
    >>> medlake.quality.run(spark, ["ops.ledger"]).counts["failed_critical"]  # doctest: +SKIP
    0
    """
    from medlake.quality.gate import run_quality
    from medlake.spark_session import session_config

    return run_quality(spark, session_config(spark), suites)
