"""Feature tables for machine learning: the ``ml`` database, built from ``fhir.*`` and ``dicom.*``.

Modules: :mod:`~medlake.features.keys` (pseudonymous keys), :mod:`~medlake.features.facts` (reads and
the as-of cut-off), :mod:`~medlake.features.units` (vital signs, UCUM), :mod:`~medlake.features.linkage`
(``ml.imaging_link``), :mod:`~medlake.features.patient` (``ml.patient_features``),
:mod:`~medlake.features.statistics` and :mod:`~medlake.features.images` (``ml.image_features``),
:mod:`~medlake.features.loader` (frames for training code), :mod:`~medlake.features.job`.
Importing this package does not import PySpark.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from medlake.runs import RunSummary

__all__ = ["build"]


def build(spark: "SparkSession", as_of: date | str | None = None) -> "RunSummary":
    """Build the ``ml`` tables as of a date (default today, UTC) and return the run's summary.

    The job ``jobs/features.py [--as-of DATE]``, with the session's profile and home (see
    :func:`medlake.features.job.run_features`).

    Examples
    --------
    >>> import medlake.features
    >>> medlake.features.build(spark, as_of="2024-06-30").counts["studies_unlinked"]  # doctest: +SKIP
    0
    """
    from medlake.features.job import run_features
    from medlake.spark_session import session_config

    return run_features(spark, session_config(spark), as_of)
