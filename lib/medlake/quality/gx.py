"""Great Expectations: the file data context under ``MEDLAKE_HOME``, its Data Docs site, a checkpoint per suite.

The context lives in ``MEDLAKE_HOME/gx`` (suites, validation definitions, checkpoints, results);
the HTML report is its only Data Docs site, in ``MEDLAKE_HOME/reports/quality``. GE validates in
the job's own session: the Spark data source gets no ``spark_config``, which would make GE stop and
rebuild the session without Delta. Results are counts only (:data:`RESULT_FORMAT`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medlake.errors import ConfigError

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.data_context import FileDataContext
    from great_expectations.data_context.types.resource_identifiers import ValidationResultIdentifier
    from great_expectations.expectations import Expectation
    from pyspark.sql import DataFrame

    from medlake.config import MedlakeConfig

__all__ = ["RESULT_FORMAT", "SITE_NAME", "open_context", "publish_report", "report_index", "validate_suite"]

SITE_NAME = "quality"
DATA_SOURCE = "medlake"
BATCH_DEFINITION = "whole_dataframe"
#: Counts and percentages only: no sample of unexpected values, no unexpected rows, no index query.
RESULT_FORMAT: dict[str, Any] = {
    "result_format": "BASIC",
    "partial_unexpected_count": 0,
    "include_unexpected_rows": False,
    "exclude_unexpected_values": True,
    "return_unexpected_index_query": False,
}


def _local_directory(config: "MedlakeConfig", *parts: str) -> Path:
    path = config.path(*parts)
    if "://" in path:
        raise ConfigError(f"Unable to run the quality gates as MEDLAKE_HOME is not a local directory ({config.home}); "
                          "the Great Expectations context and the report need one")
    return Path(path)


def report_index(config: "MedlakeConfig") -> Path:
    """Return the report's index page, ``MEDLAKE_HOME/reports/quality/index.html``."""
    return _local_directory(config, "reports", "quality") / "index.html"


def open_context(config: "MedlakeConfig") -> "FileDataContext":
    """Open (or create) the file data context with the report as its only Data Docs site, progress bars off.

    Raises
    ------
    ConfigError
        If ``MEDLAKE_HOME`` is a URI rather than a local directory.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=str(_local_directory(config)))
    site = {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                          "base_directory": str(report_index(config).parent)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "show_how_to_buttons": False,
                               "validation_results_limit": config.quality.report_index_limit,
                               "view": {"module_name": "medlake.quality.report",
                                        "class_name": "OfflineIndexPageView"}},
    }
    for name in list(context.config.data_docs_sites or {}):
        if name != SITE_NAME:
            context.delete_data_docs_site(name)
    if SITE_NAME in (context.config.data_docs_sites or {}):
        context.update_data_docs_site(SITE_NAME, site)  # type: ignore[arg-type]
    else:
        context.add_data_docs_site(SITE_NAME, site)  # type: ignore[arg-type]
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.variables.save()
    return context


def validate_suite(context: "FileDataContext", name: str, frame: "DataFrame", checks: Sequence["Expectation"],
                   run_name: str) -> tuple["ValidationResultIdentifier", "ExpectationSuiteValidationResult"]:
    """Validate ``frame`` against the checks as suite ``name`` through its checkpoint; return the stored result.

    The suite, its dataframe asset with a whole-dataframe batch definition, its validation
    definition and its checkpoint are stored in the context (replaced when they changed). The
    data source does not persist the frame (the caller caches it once), and the report is built
    once per run by :func:`publish_report`, not by each checkpoint.

    Parameters
    ----------
    context
        From :func:`open_context`.
    name
        The suite's name (also its asset's, validation definition's and checkpoint's).
    frame
        The DataFrame to validate (cache it: every expectation reads it).
    checks
        The suite's expectations.
    run_name
        The medlake run id, the name of the validation run in the report.
    """
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    source = context.data_sources.add_or_update_spark(DATA_SOURCE, persist=False)
    asset = next((a for a in source.assets if a.name == name), None) or source.add_dataframe_asset(name)
    batch = next((b for b in asset.batch_definitions if b.name == BATCH_DEFINITION), None) \
        or asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)
    suite = context.suites.add_or_update(gx.ExpectationSuite(name=name, expectations=list(checks)))
    definition = context.validation_definitions.add_or_update(gx.ValidationDefinition(name=name, data=batch,
                                                                                      suite=suite))
    checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
        name=name, validation_definitions=[definition], result_format=RESULT_FORMAT, actions=[]))
    result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_name))
    return next(iter(result.run_results.items()))


def publish_report(context: "FileDataContext", validated: Sequence["ValidationResultIdentifier"]) -> None:
    """Add the run's validation results (and their suites) to the report and rebuild its index once."""
    suites = [key.expectation_suite_identifier for key in validated]
    # Both kinds in one list, as GE's own UpdateDataDocsAction passes them (its annotation says one kind).
    context.build_data_docs(site_names=[SITE_NAME], resource_identifiers=[*validated, *suites])  # type: ignore[arg-type]
