"""DICOM: header reading, DICOM JSON, AWS HealthImaging-style image set documents, HTJ2K frames,
and the two jobs (:func:`ingest`, :func:`transcode`).

The per-file modules import neither PySpark nor a session; Spark jobs wrap them in ``mapInPandas``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from medlake.runs import RunSummary

__all__ = ["ingest", "transcode"]


def ingest(spark: "SparkSession", paths: Sequence[str]) -> "RunSummary":
    """Read DICOM Part 10 files (any file name) into ``dicom.instance``, ``series``, ``study``, ``image_set``.

    The job ``jobs/dicom_ingest.py --input PATH``.

    Parameters
    ----------
    spark
        A session from :func:`medlake.session`.
    paths
        Files or directories (searched recursively), local paths or URIs.

    Returns
    -------
    RunSummary
        Counts per outcome (``loaded``, ``duplicates``, ``quarantined``, ...) and stage times.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> medlake.dicom.ingest(spark, [get_testdata_file("CT_small.dcm")]).status
    'succeeded'
    """
    from medlake.dicom.ingest_job import run_dicom_ingest
    from medlake.spark_session import session_config

    return run_dicom_ingest(spark, session_config(spark), list(paths))


def transcode(spark: "SparkSession", output_dicom: str | None = None) -> "RunSummary":
    """Transcode the pixel data of ingested instances to verified lossless HTJ2K (``dicom.frame``).

    The job ``jobs/htj2k_transcode.py [--output-dicom DIR]``.

    Parameters
    ----------
    spark
        A session from :func:`medlake.session`.
    output_dicom
        Also write one HTJ2K DICOM file per fully transcoded instance under this directory.

    Returns
    -------
    RunSummary
        Frames transcoded and verified, instances quarantined, stage times.

    Examples
    --------
    >>> medlake.dicom.transcode(spark).status
    'succeeded'
    """
    from medlake.dicom.transcode_job import run_htj2k_transcode
    from medlake.spark_session import session_config

    return run_htj2k_transcode(spark, session_config(spark), output_dicom)
