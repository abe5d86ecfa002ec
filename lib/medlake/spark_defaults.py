"""The Spark settings every medlake session needs, in one PySpark-free place.

``medlake.spark_session.build_session``, ``spark-submit.sh`` and the test fixture all take their Delta
Lake, catalog, metastore and Python settings from :func:`session_settings`, so the three cannot
drift apart. The Delta JAR coordinate is derived from the installed ``delta-spark`` and ``pyspark``
wheels, resolved once from Maven Central at set-up (:func:`resolve_delta_jars`) and then passed as
``spark.jars``, so later runs need no network.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from medlake.config import MedlakeConfig
from medlake.errors import ConfigError

__all__ = [
    "DELTA_CATALOG",
    "DELTA_EXTENSION",
    "delta_coordinate",
    "delta_jars",
    "derby_client_jar",
    "derby_server_classpath",
    "project_root",
    "resolve_delta_jars",
    "resolve_derby_jars",
    "session_settings",
    "build_library_zip",
]

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
_SCALA_BINARY = "2.13"


def project_root() -> Path:
    """Return the checkout's root: ``MEDLAKE_ROOT``, else the nearest folder above this module
    holding ``pyproject.toml`` (also when the package is imported from ``build/medlake.zip``)."""
    configured = os.environ.get("MEDLAKE_ROOT")
    if configured:
        return Path(configured).resolve()
    here = Path(__file__).resolve()
    return next((parent for parent in here.parents if (parent / "pyproject.toml").is_file()), here.parents[2])


def delta_coordinate() -> str:
    """Return the Maven coordinate of the Delta JAR matching the installed wheels.

    Examples
    --------
    >>> delta_coordinate()
    'io.delta:delta-spark_4.1_2.13:4.4.0'
    """
    delta_version = importlib.metadata.version("delta-spark")
    spark_major_minor = ".".join(importlib.metadata.version("pyspark").split(".")[:2])
    return f"io.delta:delta-spark_{spark_major_minor}_{_SCALA_BINARY}:{delta_version}"


def _jars_dir(coordinates: str | None = None) -> Path:
    base = os.environ.get("MEDLAKE_JARS_DIR") or str(project_root() / ".jars")
    return Path(base) / (coordinates or delta_coordinate()).replace(":", "_").replace(",", "+")


def delta_jars() -> list[Path]:
    """Return the resolved Delta JARs, or raise ConfigError if set-up has not resolved them."""
    directory = _jars_dir()
    jars = sorted(directory.glob("*.jar"))
    if not jars:
        raise ConfigError(
            f"Unable to find the Delta Lake JARs for {delta_coordinate()} as {directory} holds none; "
            "run ./spark-submit.sh once (it resolves them) or `python -m medlake.spark_defaults resolve`"
        )
    return jars


def _pyspark_jars() -> Path:
    """Return the JARs folder of the installed PySpark (``SPARK_HOME`` under spark-submit)."""
    import importlib.util

    spark_home = os.environ.get("SPARK_HOME")
    if spark_home and (Path(spark_home) / "jars").is_dir():
        return Path(spark_home) / "jars"
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise ConfigError("Unable to locate PySpark as it is not installed in this environment")
    return Path(spec.origin).parent / "jars"


def _derby_coordinates() -> str:
    """Derby's network server and client, at the version of the Derby that PySpark ships."""
    version = next(_pyspark_jars().glob("derby-[0-9]*.jar")).name.removeprefix("derby-").removesuffix(".jar")
    return f"org.apache.derby:derbynet:{version},org.apache.derby:derbyclient:{version}"


def _derby_jar(name: str) -> Path:
    jars = sorted(_jars_dir(_derby_coordinates()).glob(f"*{name}-*.jar"))
    if not jars:
        raise ConfigError(f"Unable to find Derby's {name} JAR as set-up has not resolved it; "
                          "run `python -m medlake.spark_defaults resolve`")
    return jars[0]


def derby_client_jar() -> Path:
    """Return Derby's network client JAR (the shared metastore's JDBC driver)."""
    return _derby_jar("derbyclient")


def derby_server_classpath() -> str:
    """Return the class path of Derby's network server: PySpark's Derby and the resolved derbynet."""
    spark_jars = _pyspark_jars()
    shipped = [next(spark_jars.glob(f"{name}-[0-9]*.jar")) for name in ("derby", "derbyshared", "derbytools")]
    return os.pathsep.join(str(jar) for jar in [*shipped, _derby_jar("derbynet")])


def _spark_provided_artifacts() -> set[str]:
    """Names (without version) of the JARs PySpark already ships, which must not be shadowed."""
    return {_artifact_name(jar.name) for jar in _pyspark_jars().glob("*.jar")}


def _artifact_name(jar_file_name: str) -> str:
    """``org.slf4j_slf4j-api-2.0.13.jar`` -> ``slf4j-api``; ``jackson-core-2.18.2.jar`` -> ``jackson-core``."""
    stem = jar_file_name.removesuffix(".jar").split("_", 1)[-1]
    parts = stem.split("-")
    while len(parts) > 1 and parts[-1][:1].isdigit():
        parts.pop()
    return "-".join(parts)


def _resolve(coordinates: str) -> list[Path]:
    """Resolve Maven ``coordinates`` (comma-separated) once into ``.jars/``, with Spark's own Ivy.

    Dependencies that PySpark already ships (Hadoop client, Jackson, log4j, Parquet, Derby, ...)
    are left out, so Spark's own versions stay in force. Output of the resolution goes to stderr.
    """
    target = _jars_dir(coordinates)
    if existing := sorted(target.glob("*.jar")):
        return existing
    ivy_dir = project_root() / ".ivy" / target.name  # its own: jars/ then holds this resolution only
    with tempfile.TemporaryDirectory() as scratch:
        probe = Path(scratch) / "probe.py"
        probe.write_text("pass\n")
        command = [
            str(Path(sys.executable).with_name("spark-submit")),
            "--conf", f"spark.jars.ivy={ivy_dir}",
            "--packages", coordinates,
            str(probe),
        ]
        env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
        result = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr, env=env, check=False)
    if result.returncode != 0:
        raise ConfigError(
            f"Unable to resolve {coordinates} from Maven Central as spark-submit --packages "
            f"exited with {result.returncode}; check network access to Maven Central"
        )
    provided = _spark_provided_artifacts()
    staging = target.with_suffix(".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for jar in (ivy_dir / "jars").glob("*.jar"):
        if _artifact_name(jar.name) not in provided:
            shutil.copy2(jar, staging / jar.name)
    staging.rename(target)
    return sorted(target.glob("*.jar"))


def resolve_delta_jars() -> list[Path]:
    """Resolve the Delta JAR and its dependencies from Maven Central once (see :func:`_resolve`).

    Returns
    -------
    The JARs now cached in the project's ``.jars/<coordinate>/`` directory.

    Raises
    ------
    ConfigError
        If Spark's Ivy cannot resolve the coordinate (no network, unknown version).
    """
    return _resolve(delta_coordinate())


def resolve_derby_jars() -> list[Path]:
    """Resolve Derby's network server and client (the shared metastore) once, like the Delta JARs."""
    return _resolve(_derby_coordinates())


def build_library_zip() -> Path:
    """Zip ``lib/medlake`` for ``--py-files`` so executors on a cluster import the same code."""
    root = project_root()
    target = root / "build" / "medlake.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((root / "lib" / "medlake").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(root / "lib"))
    partial.replace(target)
    return target


def session_settings(config: MedlakeConfig) -> dict[str, str]:
    """Return every Spark setting a medlake session needs; the profile's own settings come last.

    Parameters
    ----------
    config
        The loaded configuration (profile plus environment overrides).

    Returns
    -------
    Spark configuration keys and values, as strings.
    """
    log_config = f"-Dlog4j2.configurationFile={(project_root() / 'conf' / 'log4j2.properties').as_uri()}"
    driver_options = [log_config]
    settings: dict[str, str] = {
        "spark.app.name": "medlake",
        # Which profile and home the session was built with (medlake.spark_session.session_config).
        "spark.medlake.profile": config.profile,
        "spark.medlake.home": config.home,
        "spark.jars": ",".join(str(jar) for jar in delta_jars()),
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": config.warehouse_dir,
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
        "spark.ui.showConsoleProgress": "true",
        # Jobs read thousands of listed files by path; Spark lists explicit paths with one task per
        # path (up to 10 000), which cost 23 s of a 4 000-file DICOM read on 2 cores.
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": "32",
        # Local files without Hadoop's .crc side files: its checksum layer builds a Path from a
        # side file's name, which fails on a legal name with a colon (URISyntaxException).
        "spark.hadoop.fs.file.impl": "org.apache.hadoop.fs.RawLocalFileSystem",
        "spark.executor.extraJavaOptions": log_config,
    }
    if config.embedded_metastore:
        derby_home = config.home.rstrip("/")
        settings["spark.hadoop.javax.jdo.option.ConnectionURL"] = (
            f"jdbc:derby:;databaseName={derby_home}/metastore_db;create=true")
        driver_options += [f"-Dderby.system.home={derby_home}", f"-Dderby.stream.error.file={derby_home}/derby.log"]
    elif config.shared_metastore:
        from medlake.metastore import CLIENT_DRIVER, client_url, ensure_server

        settings["spark.hadoop.javax.jdo.option.ConnectionURL"] = client_url(config, ensure_server(config))
        settings["spark.hadoop.javax.jdo.option.ConnectionDriverName"] = CLIENT_DRIVER
        settings["spark.driver.extraClassPath"] = str(derby_client_jar())
    settings["spark.driver.extraJavaOptions"] = " ".join(driver_options)
    settings.update(config.spark_conf)
    return settings


def _print_submit_args(config: MedlakeConfig, *, python: bool = True) -> None:
    """Print spark-submit options, NUL-separated, for ``spark-submit.sh`` (``python``: a Python job,
    which gets ``lib/`` as ``--py-files``; the SQL servers are JVM applications)."""
    settings = session_settings(config)
    if not python:  # the server's per-connection sessions load the Delta catalog with the system class loader
        settings["spark.driver.extraClassPath"] = os.pathsep.join(filter(None, [
            settings.get("spark.driver.extraClassPath"), *(str(jar) for jar in delta_jars())]))
    args = ["--py-files", str(build_library_zip())] if python else []
    if config.master:
        args += ["--master", config.master]
    for key, value in settings.items():
        args += ["--conf", f"{key}={value}"]
    sys.stdout.write("\0".join(args) + "\0")


def main(argv: list[str] | None = None) -> int:
    """``python -m medlake.spark_defaults resolve|submit-args [--sql-server]``."""
    from medlake.config import load_config

    command = (argv if argv is not None else sys.argv[1:]) or ["resolve"]
    try:
        if command[0] == "resolve":
            jars = resolve_delta_jars()
            print(f"medlake: {len(jars)} Delta JARs for {delta_coordinate()} ready", file=sys.stderr)
            resolve_derby_jars()
        elif command[0] == "submit-args":
            _print_submit_args(load_config(), python="--sql-server" not in command)
        else:
            print(f"medlake: unknown command {command[0]!r}; use resolve or submit-args", file=sys.stderr)
            return 2
    except ConfigError as error:
        print(f"medlake: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
