"""Find the input files under the paths a job is given, on the driver, without reading them.

Local paths (and ``file:`` URIs) are walked with :func:`os.scandir`: names are taken as they are
(a colon, ``%``, ``#``, glob characters, spaces, a leading ``-``, any Unicode), never parsed as URIs,
and files of 0 bytes are listed like any other. Symbolic links are followed at most once per real
directory and never outside the paths given (a link back to an ancestor is a ``directory_cycle``);
a directory or file that cannot be read is an ``unreadable_file``. Such problems do not stop the
walk: they are listed with their reason, so the job gives them an outcome and goes on.
Other schemes (``s3a:``, ``abfss:``, ``hdfs:``) are listed with Hadoop's ``FileSystem``.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from medlake.errors import ConfigError
from medlake.quarantine import QuarantineReason

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["LISTING_SCHEMA", "ListedFile", "list_files", "listing_frame", "local_uri", "read_binary", "reader_path",
           "walk_local"]

#: Columns of a listing: a file, or a path that could not be listed with its reason and detail.
LISTING_SCHEMA = ("uri string, size long, modification_time timestamp, problem string, "
                  "problem_detail string")

_URI_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
#: Characters that Hadoop's glob expansion (which Spark's readers apply to every path) treats specially.
_GLOB = re.compile(r"([\\*?\[\]{}])")
_EPOCH = datetime.fromtimestamp(0, tz=UTC)


@dataclass(frozen=True)
class ListedFile:
    """One listed path: a file with its size and modification time, or a problem with its reason."""

    uri: str
    size: int
    modification_time: datetime
    problem: str | None = None
    problem_detail: str | None = None


def local_uri(path: str) -> str:
    """Return the URI medlake records for a local absolute path: ``file:`` + the path as it is.

    This is the form of Hadoop's ``Path.toString()`` and of the ``path`` Spark's readers report,
    so listing, reading and the manifest agree on every file name.

    Examples
    --------
    >>> local_uri("/data/exports/2025-01-01T10:00:00 patient#1.ndjson")
    'file:/data/exports/2025-01-01T10:00:00 patient#1.ndjson'
    """
    return f"file:{path}"


def reader_path(uri: str) -> str:
    """Return ``uri`` escaped for Spark's file readers, which expand glob characters in every path.

    Examples
    --------
    >>> reader_path("file:/data/c{t,x}[1]*.dcm")
    'file:/data/c\\\\{t,x\\\\}\\\\[1\\\\]\\\\*.dcm'
    """
    return _GLOB.sub(r"\\\1", uri)


def _is_local(path: str) -> bool:
    return not _URI_SCHEME.match(path) or path.startswith("file:")


def _local_path(path: str) -> Path:
    if path.startswith("file:"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(path).path))
    return Path(path).expanduser().absolute()


def _problem(path: str, reason: QuarantineReason, detail: str) -> ListedFile:
    return ListedFile(local_uri(path), 0, _EPOCH, reason.value, detail)


def walk_local(root: Path) -> Iterator[ListedFile]:
    """Yield every file under ``root`` (a file or a directory), and the paths that cannot be listed.

    Links are followed to files and directories inside ``root`` once per real directory; a link
    to a directory being walked (an ancestor) is a ``directory_cycle``, a link leading outside
    ``root`` is not followed (and not listed), an unreadable directory or file an ``unreadable_file``.
    """
    base = os.path.realpath(root)
    if os.path.isfile(root):
        yield from _entry_file(str(root))
        return
    yield from _walk_directory(str(root), base, set(), [])


def _entry_file(path: str) -> Iterator[ListedFile]:
    try:
        info = os.stat(path)
    except OSError as error:
        yield _problem(path, QuarantineReason.UNREADABLE_FILE,
                       f"Unable to read the file's attributes ({error.strerror})")
        return
    if not stat.S_ISREG(info.st_mode):
        return  # sockets, FIFOs, devices: not input files
    if not os.access(path, os.R_OK):
        yield _problem(path, QuarantineReason.UNREADABLE_FILE,
                       "Unable to read the file as its permissions do not allow it")
        return
    yield ListedFile(local_uri(path), info.st_size, datetime.fromtimestamp(info.st_mtime, tz=UTC))


def _walk_directory(directory: str, base: str, visited: set[str], ancestors: list[str]) -> Iterator[ListedFile]:
    real = os.path.realpath(directory)
    if real in ancestors:
        yield _problem(directory, QuarantineReason.DIRECTORY_CYCLE,
                       "The link leads back to a directory that contains it; not followed")
        return
    if real in visited:
        return  # reached again through another link: listed once
    visited.add(real)
    try:
        with os.scandir(directory) as entries:
            children = sorted(entries, key=lambda entry: entry.name)
    except OSError as error:
        yield _problem(directory, QuarantineReason.UNREADABLE_FILE,
                       f"Unable to list the directory ({error.strerror})")
        return
    for entry in children:
        path = os.path.join(directory, entry.name)
        try:
            is_link, is_dir = entry.is_symlink(), entry.is_dir()
        except OSError:
            is_link, is_dir = False, False
        if is_link:
            target = os.path.realpath(path)
            if not (target == base or target.startswith(base.rstrip(os.sep) + os.sep)):
                continue  # never outside what was given
        if is_dir:
            yield from _walk_directory(path, base, visited, [*ancestors, real])
        else:
            yield from _entry_file(path)


def _walk_hadoop(spark: "SparkSession", uri: str) -> Iterator[ListedFile]:
    jvm = spark._jvm
    assert jvm is not None
    path = jvm.org.apache.hadoop.fs.Path(jvm.java.net.URI(uri))
    files = path.getFileSystem(spark._jsc.hadoopConfiguration()).listFiles(path, True)  # type: ignore[attr-defined]
    while files.hasNext():
        status = files.next()
        yield ListedFile(status.getPath().toString(), int(status.getLen()),
                         datetime.fromtimestamp(status.getModificationTime() / 1000, tz=UTC))


def list_files(spark: "SparkSession", paths: Sequence[str], name_pattern: str | None = None) -> list[ListedFile]:
    """List files under ``paths`` (recursively) without reading them, on the driver (no Spark job).

    Parameters
    ----------
    spark
        The session.
    paths
        Files or directories, local paths or URIs.
    name_pattern
        A regular expression the file name must match (``None``: every file). Paths that could not
        be listed (``problem`` set) are kept whatever their name.

    Returns
    -------
    One :class:`ListedFile` per path, with ``problem`` (a
    :class:`~medlake.quarantine.QuarantineReason` value) and ``problem_detail`` for paths that
    cannot be read; :func:`listing_frame` makes a DataFrame of them.

    Raises
    ------
    ConfigError
        If no path is given or a local path does not exist.
    """
    if not paths:
        raise ConfigError("Unable to list input files as no --input was given")
    listed: list[ListedFile] = []
    for path in paths:
        if _is_local(path):
            local = _local_path(path)
            if not os.path.lexists(local):
                raise ConfigError(f"Unable to read input {path!r} as it does not exist")
            listed.extend(walk_local(local))
        else:
            listed.extend(_walk_hadoop(spark, path))
    if name_pattern:
        matches = re.compile(name_pattern).search
        listed = [f for f in listed if f.problem or matches(f.uri.rsplit("/", 1)[-1])]
    return list({f.uri: f for f in listed}.values())  # an input given twice, or inside another, is listed once


def listing_frame(spark: "SparkSession", listed: Sequence[ListedFile]) -> "DataFrame":
    """Return ``listed`` as a DataFrame of :data:`LISTING_SCHEMA`."""
    return spark.createDataFrame(
        [(f.uri, f.size, f.modification_time, f.problem, f.problem_detail) for f in listed], LISTING_SCHEMA)


def read_binary(spark: "SparkSession", uris: Sequence[str], *, ignore_missing: bool = False) -> "DataFrame":
    """Return Spark's ``binaryFile`` rows (``path``, ``content``, ...) of listed files, read on the JVM.

    Spark looks every given path up again when it plans the read; for local files it is told to do
    so on the driver (a ``stat`` each) rather than in a Spark job of its own, which costs seconds
    per thousand paths.
    """
    from medlake.spark_session import session_conf

    local = all(uri.startswith("file:") for uri in uris)
    lookup = {"spark.sql.sources.parallelPartitionDiscovery.threshold": str(len(uris) + 1)} if local else {}
    reader = spark.read.format("binaryFile").option("ignoreMissingFiles", str(ignore_missing).lower())
    with session_conf(spark, lookup):
        return reader.load([reader_path(uri) for uri in uris])
