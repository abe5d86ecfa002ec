"""The quality job: every suite validated once, results to ``ops.quality`` and the report, critical failures fail it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from medlake.config import MedlakeConfig
from medlake.errors import ConfigError, JobError
from medlake.quality.gx import open_context, publish_report, report_index, validate_suite
from medlake.quality.results import Outcome, outcomes, write_outcomes
from medlake.quality.suites import Lake, Severity, Suite, build_suites
from medlake.runs import RunSummary, start_run
from medlake.tables import OPS_QUALITY

if TYPE_CHECKING:
    from great_expectations.data_context import FileDataContext
    from great_expectations.data_context.types.resource_identifiers import ValidationResultIdentifier
    from pyspark.sql import SparkSession

    from medlake.runs import Run

__all__ = ["JOB", "run_quality"]

LOGGER = logging.getLogger(__name__)

JOB = "quality"


def _selected(suites: list[Suite], names: Sequence[str] | None) -> list[Suite]:
    if not names:
        return suites
    known = {suite.name: suite for suite in suites}
    if unknown := sorted(set(names) - set(known)):
        raise ConfigError(f"Unable to run the quality gates as --suite names unknown suites {unknown}; "
                          f"known suites are {sorted(known)}")
    return [suite for suite in suites if suite.name in names]


def _validate(spark: "SparkSession", run: "Run", context: "FileDataContext", suite: Suite,
              lake: Lake) -> tuple["ValidationResultIdentifier", list[Outcome]] | None:
    """Validate one suite in a stage of its own; return its stored result's key and its outcomes, or
    None when a table is missing."""
    with run.stage(suite.name) as logged:
        if missing := [table for table in suite.requires if not spark.catalog.tableExists(lake.table(table))]:
            LOGGER.info("Skipping suite %s as %s does not exist", suite.name, ", ".join(missing))
            return None
        frame = suite.frame().persist()
        try:
            checks = suite.checks(frame)
            key, result = validate_suite(context, suite.name, frame, checks, run.run_id)
        finally:
            frame.unpersist()
        rows = outcomes(suite, result)
        logged.update(expectations=len(rows), failed=sum(not row.success for row in rows))
        return key, rows


def run_quality(spark: "SparkSession", config: MedlakeConfig, suites: Sequence[str] | None = None, *,
                lake: Lake = Lake()) -> RunSummary:
    """Run the quality suites over the lake's tables; write ``ops.quality`` and the HTML report.

    Suites whose tables do not exist are skipped (counted, not failed). Each suite is one stage of
    the run, so its wall time is in the stage table and ``ops.runs.stage_seconds``.

    Parameters
    ----------
    spark
        The session (Great Expectations validates in it).
    config
        The configuration (``quality`` section, ``MEDLAKE_HOME`` for the context and the report).
    suites
        Names of the suites to run (``fhir.patient``, ``ops.ledger``, ...); default: all.
    lake
        The databases to check (default ``fhir``, ``dicom``, ``ops``); ``ops.quality`` is always medlake's.

    Returns
    -------
    RunSummary
        Counts: ``suites``, ``suites_skipped``, ``expectations``, ``failed_critical``, ``failed_warning``.

    Raises
    ------
    ConfigError
        If ``suites`` names an unknown suite, ``quality.severity`` an unknown check, or
        ``MEDLAKE_HOME`` is not a local directory.
    JobError
        If a critical expectation failed (after ``ops.quality`` and the report are written); the
        message names the suites, checks and expectations, with counts only.

    Examples
    --------
    >>> run_quality(spark, config, ["fhir.patient"]).one_line()  # doctest: +SKIP
    'medlake quality succeeded run=...: suites=1, suites_skipped=0, expectations=13, failed_critical=0, ...'
    """
    with start_run(spark, JOB, config.tables) as run:
        with run.stage("context"):
            context = open_context(config)
            selected = _selected(build_suites(spark, config.quality, lake), suites)
        validated = [_validate(spark, run, context, suite, lake) for suite in selected]
        rows = [row for done in validated if done is not None for row in done[1]]
        with run.stage("write"):
            run.summary.table_versions[OPS_QUALITY] = write_outcomes(spark, run.run_id, run.started_at, rows,
                                                                    config.tables)
        with run.stage("report"):
            publish_report(context, [done[0] for done in validated if done is not None])
        failed = [row for row in rows if not row.success]
        critical = [row for row in failed if row.severity == Severity.CRITICAL]
        run.summary.add(suites=sum(v is not None for v in validated), suites_skipped=sum(v is None for v in validated),
                        expectations=len(rows), failed_critical=len(critical),
                        failed_warning=len(failed) - len(critical))
        for row in failed:
            LOGGER.warning("Quality %s: %s", row.severity, row.describe())
        LOGGER.info("Quality report: %s", report_index(config))
        if critical:
            raise JobError(f"Unable to pass the quality gates as {len(critical)} critical expectation(s) failed: "
                           + "; ".join(row.describe() for row in critical) + f"; report: {report_index(config)}")
        return run.finish()
