"""The one place that creates SparkSessions: Delta Lake, the catalog and the profile's settings."""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Mapping

from medlake.config import MedlakeConfig, load_config
from medlake.errors import ConfigError, MetastoreLockedError
from medlake.spark_defaults import session_settings
from medlake.tables import ensure_databases

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["build_session", "check_metastore_free", "session_conf", "session_config"]

LOGGER = logging.getLogger(__name__)

_LOCKED_MESSAGE = (
    "Unable to open the embedded metastore under {home} as another process (an open notebook or a "
    "running job) holds it; wait for that process to end or close it, or set MEDLAKE_HOME to another "
    "directory, or use a profile with an external metastore"
)


def check_metastore_free(config: MedlakeConfig) -> None:
    """Raise MetastoreLockedError at once if another JVM holds the embedded Derby metastore.

    Derby keeps an exclusive file lock on ``metastore_db/dbex.lck`` while a process has the database
    open; a failed non-blocking lock attempt here means the job would otherwise hang or fail deep
    inside Hive with a stack trace.
    """
    if not config.embedded_metastore or "://" in config.home:
        return
    lock_file = Path(config.home) / "metastore_db" / "dbex.lck"
    if not lock_file.exists():
        return
    with open(lock_file, "a") as handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise MetastoreLockedError(_LOCKED_MESSAGE.format(home=config.home)) from None
        fcntl.lockf(handle, fcntl.LOCK_UN)


def _is_derby_lock_error(error: BaseException) -> bool:
    text = str(error)
    return "XSDB6" in text or "Another instance of Derby" in text


def _launched_by_spark_submit() -> bool:
    """spark-submit starts the driver's Python with a running JVM whose master is already set."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def build_session(config: MedlakeConfig, extra_conf: Mapping[str, str] | None = None) -> "SparkSession":
    """Build the SparkSession with Delta Lake, the metastore and the profile's settings, or return
    the one this process already has (a session's settings cannot change once it runs).

    Under ``spark-submit`` the master given on its command line wins over the profile's.
    Settings in ``extra_conf`` are applied last.

    Parameters
    ----------
    config
        The loaded configuration.
    extra_conf
        Caller settings, applied after medlake's and the profile's.

    Returns
    -------
    A SparkSession whose catalog has been opened (so a locked metastore fails here).

    Raises
    ------
    MetastoreLockedError
        If another process holds the embedded Derby metastore.
    """
    from pyspark.sql import SparkSession

    if (active := SparkSession.getActiveSession()) is not None:
        return active  # this process's own session: its settings are fixed since it started
    check_metastore_free(config)
    if config.embedded_metastore and "://" not in config.home:
        os.makedirs(config.home, exist_ok=True)
    settings = {**session_settings(config), **(extra_conf or {})}
    builder = SparkSession.builder
    if not _launched_by_spark_submit():
        # Only spark-submit turns spark.pyspark.python into the workers' interpreter; a session
        # started from Python (notebook, tests) takes it from the environment.
        os.environ["PYSPARK_PYTHON"] = settings["spark.pyspark.python"]
        if config.master:
            builder = builder.master(config.master)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.enableHiveSupport().getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    try:
        ensure_databases(spark)
    except Exception as error:  # py4j and Spark wrap Derby's error several levels deep
        if _is_derby_lock_error(error):
            spark.stop()
            raise MetastoreLockedError(_LOCKED_MESSAGE.format(home=config.home)) from None
        raise
    LOGGER.info("Spark %s session ready (profile %s)", spark.version, config.profile)
    return spark


def session_config(spark: "SparkSession") -> MedlakeConfig:
    """Return the configuration ``spark`` was built with (its profile and home), for the library API."""
    profile = spark.conf.get("spark.medlake.profile", None)
    home = spark.conf.get("spark.medlake.home", None)
    if profile is None or home is None:
        raise ConfigError("Unable to run a medlake job in this session as it was not built by medlake; "
                          "use spark = medlake.session()")
    return load_config(profile, environ={**os.environ, "MEDLAKE_HOME": home})


@contextmanager
def session_conf(spark: "SparkSession", settings: Mapping[str, str]) -> Iterator[None]:
    """Apply SQL settings for the queries run inside the block, then restore the previous values."""
    previous = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, old in previous.items():
            if old is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, old)
