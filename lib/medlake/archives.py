"""Check compressed input files before Spark reads them: a broken archive is one file's problem.

Spark's text reader fails the whole job on a truncated or corrupt ``.gz`` file (``FAILED_READ_FILE``,
``EOFException``), and a gzip bomb would fill memory and disk. :func:`gzip_problem` decompresses a
file's bytes as a stream, bounded in output size and expansion ratio, and names what is wrong;
:func:`archive_problem_column` runs it where the manifest already reads the bytes for their hash
(:func:`medlake.manifest.plan_files`), so the check costs no extra read.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import pandas as pd

from medlake.quarantine import QuarantineReason

if TYPE_CHECKING:
    from pyspark.sql import Column

__all__ = ["GZIP_SUFFIX", "MAX_EXPANSION_RATIO", "MAX_EXPANDED_BYTES", "archive_problem_column", "deflate_exceeds",
           "gzip_problem"]

GZIP_SUFFIX = ".gz"
#: Largest text a ``.gz`` input may expand to (Spark's readers and the record limits apply to it).
MAX_EXPANDED_BYTES = 8 * 2**30
#: Largest expansion accepted: NDJSON compresses 5-30 fold; a gzip bomb about 1 000 fold (the format's limit).
MAX_EXPANSION_RATIO = 200
_CHUNK = 1 << 20


def gzip_problem(content: bytes, *, max_bytes: int = MAX_EXPANDED_BYTES,
                 max_ratio: int = MAX_EXPANSION_RATIO) -> tuple[str, str] | None:
    """Return ``(reason, detail)`` if ``content`` is not a complete, reasonably sized gzip stream.

    Several gzip members one after another (as ``cat a.gz b.gz`` makes) are one valid stream.

    Examples
    --------
    >>> import gzip
    >>> data = gzip.compress(b'{"resourceType": "Patient"}\\n' * 100)
    >>> gzip_problem(data) is None
    True
    >>> gzip_problem(data[: len(data) // 2])[0]
    'truncated_archive'
    >>> gzip_problem(b"plain text")[0]
    'corrupt_archive'
    >>> gzip_problem(gzip.compress(bytes(10_000_000)))[0]
    'archive_too_large'
    """
    limit = min(max_bytes, max(len(content), 1) * max_ratio)
    expanded = 0
    remaining = content
    try:
        while remaining:
            stream = zlib.decompressobj(wbits=31)
            data = remaining
            while data:
                expanded += len(stream.decompress(data, _CHUNK))
                if expanded > limit:
                    return (QuarantineReason.ARCHIVE_TOO_LARGE.value,
                            f"Unable to read the archive as it expands beyond {limit} bytes "
                            f"({max_ratio} times its size, at most {max_bytes})")
                if stream.eof:
                    break
                data = stream.unconsumed_tail
            if not stream.eof:
                return (QuarantineReason.TRUNCATED_ARCHIVE.value,
                        f"Unable to read the archive as its gzip stream ends early, after {expanded} bytes "
                        "of text; copy the file again")
            remaining = stream.unused_data
    except zlib.error as error:
        return (QuarantineReason.CORRUPT_ARCHIVE.value,
                f"Unable to read the archive as it is not valid gzip data ({error})")
    return None


def deflate_exceeds(content: bytes, limit: int) -> bool:
    """Return whether a raw deflate stream (DICOM's Deflated Explicit VR Little Endian) inflates beyond
    ``limit`` bytes, inflating at most ``limit`` + 1 MiB of it. A broken stream is not judged here.

    Examples
    --------
    >>> import zlib
    >>> packer = zlib.compressobj(wbits=-15)
    >>> bomb = packer.compress(bytes(5_000_000)) + packer.flush()
    >>> deflate_exceeds(bomb, 1_000_000), deflate_exceeds(bomb, 10_000_000)
    (True, False)
    """
    stream = zlib.decompressobj(wbits=-15)
    expanded, data = 0, content
    try:
        while data and not stream.eof:
            expanded += len(stream.decompress(data, _CHUNK))
            if expanded > limit:
                return True
            data = stream.unconsumed_tail
    except zlib.error:
        return False
    return False


def _gzip_problems(contents: pd.Series) -> pd.DataFrame:
    """The pandas UDF of :func:`archive_problem_column` (pandas_udf reads these annotations)."""
    found = [gzip_problem(value) if value is not None else None for value in contents]
    return pd.DataFrame({"reason": [f[0] if f else None for f in found],
                         "detail": [f[1] if f else None for f in found]})


def archive_problem_column(uri: "Column", content: "Column") -> "Column":
    """Return ``struct<reason, detail>`` of :func:`gzip_problem` for ``.gz`` files, null otherwise.

    Only the bytes of ``.gz`` files are sent to Python.
    """
    from pyspark.sql import functions as F

    check = F.pandas_udf(_gzip_problems, "reason string, detail string")  # type: ignore[call-overload]
    problem = check(F.when(uri.endswith(GZIP_SUFFIX), content))
    return F.when(problem["reason"].isNotNull(), problem)
