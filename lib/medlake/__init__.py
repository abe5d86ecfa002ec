"""medlake: a lakehouse pipeline for FHIR R4 and DICOM on Apache Spark and Delta Lake.

The library's public face, for notebooks and other programs (the jobs in ``jobs/`` are thin calls
of the same functions):

* :func:`medlake.session`: a SparkSession with the project's settings, Delta Lake and the catalogue;
* :func:`medlake.fhir.ingest`, :func:`medlake.fhir.rebuild`: load FHIR NDJSON and Bundles;
* :func:`medlake.dicom.ingest`, :func:`medlake.dicom.transcode`: load DICOM files, transcode to HTJ2K;
* :func:`medlake.quality.run`: the quality gates over the tables;
* :func:`medlake.features.build`: the ``ml`` feature tables as of a date.

Each job function takes the session and returns the run's :class:`~medlake.runs.RunSummary`.
Importing ``medlake`` does not import PySpark; Spark-facing modules are imported on use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from medlake import dicom, features, fhir, quality

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__version__ = "0.1.0"

__all__ = ["__version__", "dicom", "features", "fhir", "quality", "session"]


def session(profile: str | None = None, *, home: str | None = None,
            conf: Mapping[str, str] | None = None) -> "SparkSession":
    """Return a SparkSession with the project's settings (or join the one this process has).

    Parameters
    ----------
    profile
        A profile of ``conf/`` (default: ``MEDLAKE_PROFILE``, else ``local``).
    home
        Where the tables and the catalogue live (default: ``MEDLAKE_HOME``, else the profile's).
    conf
        Extra Spark settings, applied last.

    Returns
    -------
    SparkSession
        With Delta Lake and the profile's catalogue: under the ``local`` profile the shared
        metastore (:mod:`medlake.metastore`), so jobs run while the notebook is open.

    Examples
    --------
    >>> import medlake
    >>> spark = medlake.session()
    >>> spark.catalog.databaseExists("fhir")
    True
    """
    from medlake.config import load_config
    from medlake.spark_session import build_session

    environ = {**os.environ, "MEDLAKE_HOME": home} if home else None
    return build_session(load_config(profile, environ), conf)
