"""FHIR R4 support: the vendored definitions, the generated Spark schemas, parsing, the round-trip
proof, and the ingest (:func:`ingest`, :func:`rebuild`).

Only the Spark-facing modules (:mod:`medlake.fhir.parse`, the adapter in
:mod:`medlake.fhir.roundtrip`, :mod:`medlake.fhir.ingest_job`) import PySpark, on use; the
definitions, the schema generator and the round-trip core are pure Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from medlake.runs import RunSummary

__all__ = ["ingest", "rebuild"]


def ingest(spark: "SparkSession", paths: Sequence[str], validate: bool = False) -> "RunSummary":
    """Load FHIR bulk NDJSON (``*.ndjson``, ``*.ndjson.gz``) and Bundles (``*.json``) into ``fhir.*``.

    The job ``jobs/fhir_ingest.py --input PATH``: files the manifest has seen unchanged are
    skipped, every record ends loaded, a duplicate or quarantined with its reason.

    Parameters
    ----------
    spark
        A session from :func:`medlake.session`.
    paths
        Files or directories (searched recursively), local paths or URIs.
    validate
        Also validate every resource with the fhir.resources R4B models.

    Returns
    -------
    RunSummary
        The run's counts (``loaded``, ``duplicates``, ``quarantined``, ...) and stage times.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "Patient.ndjson").write_text('{"resourceType": "Patient", "id": "doc-1"}\\n')
    >>> medlake.fhir.ingest(spark, [str(folder)]).counts["loaded"]
    1
    """
    from medlake.fhir.ingest_job import run_fhir_ingest
    from medlake.spark_session import session_config

    return run_fhir_ingest(spark, session_config(spark), list(paths), validate=validate)


def rebuild(spark: "SparkSession", validate: bool = False) -> "RunSummary":
    """Re-derive the typed tables from ``fhir.raw`` after a schema change (``--rebuild``)."""
    from medlake.fhir.ingest_job import rebuild_typed_tables
    from medlake.spark_session import session_config

    return rebuild_typed_tables(spark, session_config(spark), validate=validate)
