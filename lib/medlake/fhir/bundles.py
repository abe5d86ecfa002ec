"""Read ``*.json`` files holding a FHIR Bundle or a single resource into ingest records.

One record per Bundle entry, with the entry index as its position, the entry's ``request`` method
and URL and its ``fullUrl``; a file holding a single resource, or text that is no JSON at all, is
one record for the whole file (position 0), which the typed parse then loads or quarantines like
any NDJSON line.

Why Python splits the Bundle: each entry's ``raw_text`` must be the resource's exact text, and
none of Spark's JSON functions gives it back. Measured on Spark 4.1.1 for an entry holding
``{"value":1.50, "x":0.12345678901234567890123, "big":1234…(44 digits), "e":1E+2}``:

=================================================  ===================================================
``get_json_object(t, '$.entry[0].resource')``       ``1.5``, ``0.12345678901234568``, ``100.0`` (doubles)
``from_json`` into a ``string`` field                the same as ``get_json_object``
``to_json(variant_get(parse_json(t), …))``           ``1.5``, keys re-ordered, 44 digits → ``1.23…E43``
=================================================  ===================================================

So the bytes are read on the JVM (``binaryFile``) and :func:`split_bundle`, a pure function
built on the standard library's ``JSONDecoder.raw_decode``, cuts each entry's resource out of the
text by its character offsets: the text is exactly as written (numbers, key order, whitespace).
It runs per file in ``mapInPandas``; Arrow batches into Python are bounded by
``spark.sql.execution.arrow.maxBytesPerBatch`` (64 MiB by default in Spark 4.1).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from medlake.quarantine import PositionKind

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = [
    "DELETE",
    "BundleEntry",
    "read_bundles",
    "split_bundle",
]

#: The request method of an entry that removes a resource.
DELETE = "DELETE"
_BOM = "\ufeff"
_RECORD_COLUMNS = (
    "source_uri", "position", "position_kind", "raw_text", "request_method", "full_url", "request_url",
)
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"Unable to read the JSON as it holds the non-standard constant {name}")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


@dataclass(frozen=True)
class BundleEntry:
    """One record cut from a ``*.json`` file."""

    position: int
    position_kind: str
    raw_text: str | None
    request_method: str | None = None
    full_url: str | None = None
    request_url: str | None = None
    bundle_timestamp: str | None = None


def _skip(text: str, index: int) -> int:
    match = _WHITESPACE.match(text, index)
    return match.end() if match else index


def _value_span(text: str, index: int) -> tuple[Any, int, int]:
    start = _skip(text, index)
    value, end = _DECODER.raw_decode(text, start)
    return value, start, end


def _object_spans(text: str, start: int) -> dict[str, tuple[int, int]]:
    """Return each member's value span of the object whose ``{`` is at ``start``."""
    spans: dict[str, tuple[int, int]] = {}
    index = _skip(text, start + 1)
    if text.startswith("}", index):
        return spans
    while True:
        key, _, index = _value_span(text, index)
        index = _skip(text, index)
        if not isinstance(key, str) or not text.startswith(":", index):
            raise ValueError("Unable to read the JSON object as a member has no string key and ':'")
        _, value_start, index = _value_span(text, index + 1)
        spans[key] = (value_start, index)
        index = _skip(text, index)
        if text.startswith("}", index):
            return spans
        if not text.startswith(",", index):
            raise ValueError("Unable to read the JSON object as members are not separated by ','")
        index += 1


def _array_spans(text: str, start: int) -> list[tuple[int, int]]:
    """Return each item's span of the array whose ``[`` is at ``start``."""
    spans: list[tuple[int, int]] = []
    index = _skip(text, start + 1)
    if text.startswith("]", index):
        return spans
    while True:
        _, item_start, index = _value_span(text, index)
        spans.append((item_start, index))
        index = _skip(text, index)
        if text.startswith("]", index):
            return spans
        if not text.startswith(",", index):
            raise ValueError("Unable to read the JSON array as items are not separated by ','")
        index += 1


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _entry(text: str, position: int, span: tuple[int, int], timestamp: str | None) -> BundleEntry:
    start, end = span
    entry_text = text[start:end]
    entry = json.loads(entry_text)
    if not isinstance(entry, dict):
        return BundleEntry(position, PositionKind.BUNDLE_ENTRY.value, entry_text, bundle_timestamp=timestamp)
    request = entry.get("request")
    if not isinstance(request, dict):
        request = {}
    method = _string(request.get("method"))
    raw_text = entry_text
    if "resource" in entry and method != DELETE:
        resource_start, resource_end = _object_spans(text, start)["resource"]
        raw_text = text[resource_start:resource_end]
    return BundleEntry(
        position, PositionKind.BUNDLE_ENTRY.value, raw_text, method,
        _string(entry.get("fullUrl")), _string(request.get("url")), timestamp,
    )


def split_bundle(text: str) -> list[BundleEntry]:
    """Cut a ``*.json`` file's text into records, each entry's resource text exactly as written.

    Parameters
    ----------
    text
        The file's text (a leading byte order mark is ignored).

    Returns
    -------
    list[BundleEntry]
        For a Bundle with an ``entry`` array: one record per entry, ``position`` its index,
        ``raw_text`` the text of its ``resource`` (for a ``DELETE`` entry, or an entry without
        resource, the entry's own text, which the typed parse then rejects as no resource),
        ``bundle_timestamp`` the Bundle's ``timestamp``. Otherwise one ``file`` record at position
        0 with the whole text: a single resource, a Bundle without entries array, or text that is
        no valid JSON (which the typed parse quarantines as ``invalid_json``). An empty ``entry``
        array gives no record.

    Examples
    --------
    >>> bundle = '{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Basic", "n": 1.50}}]}'
    >>> split_bundle(bundle)[0].raw_text
    '{"resourceType": "Basic", "n": 1.50}'
    >>> split_bundle('{"resourceType": "Bundle", "entry": [').pop().position_kind
    'file'
    """
    body = text[1:] if text.startswith(_BOM) else text
    whole = [BundleEntry(0, PositionKind.FILE.value, body.strip(" \t\n\r"))]
    try:
        document, start, end = _value_span(body, 0)
        if _skip(body, end) != len(body):
            return whole
        if not (isinstance(document, dict) and document.get("resourceType") == "Bundle"
                and isinstance(document.get("entry"), list)):
            return whole
        timestamp = _string(document.get("timestamp"))
        entries_start, _ = _object_spans(body, start)["entry"]
        return [
            _entry(body, position, span, timestamp)
            for position, span in enumerate(_array_spans(body, entries_start))
        ]
    except (ValueError, RecursionError):  # a JSONDecodeError is a ValueError; nesting beyond the
        return whole                      # stack's depth (medlake.fhir.nesting) is a RecursionError


def _split_schema() -> StructType:
    """Return the schema of :func:`_split_files`' rows."""
    from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

    return StructType([
        StructField("source_uri", StringType(), False),
        StructField("position", LongType(), False),
        StructField("position_kind", StringType(), False),
        StructField("raw_text", StringType(), True),
        StructField("request_method", StringType(), True),
        StructField("full_url", StringType(), True),
        StructField("request_url", StringType(), True),
        StructField("bundle_timestamp", StringType(), True),
        StructField("modification_time", TimestampType(), True),
    ])


def _file_records(uri: str, content: bytes, modified: Any) -> Iterator[dict[str, Any]]:
    try:
        entries = split_bundle(content.decode("utf-8"))
    except UnicodeDecodeError:
        # No text to keep: the typed parse quarantines the null text as invalid_json.
        entries = [BundleEntry(0, PositionKind.FILE.value, None)]
    for entry in entries:
        yield {"source_uri": uri, **entry.__dict__, "modification_time": modified}


def _split_files(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    import pandas as pd

    columns = _split_schema().fieldNames()
    for batch in batches:
        rows = [
            row
            for uri, content, modified in zip(batch["path"], batch["content"], batch["modificationTime"])
            for row in _file_records(uri, content, modified)
        ]
        yield pd.DataFrame(rows, columns=columns)


def read_bundles(spark: SparkSession, files: DataFrame, *, first_file_index: int = 0) -> DataFrame:
    """Read ``*.json`` files (Bundles or single resources) into ingest records.

    Parameters
    ----------
    spark
        The session.
    files
        The files to read (column ``uri``, as :func:`medlake.listing.listing_frame` makes them).
    first_file_index
        Index of the first file in the run's input order, so that Bundle files can follow other
        sources' files: the files are ordered by URI from there.

    Returns
    -------
    DataFrame
        The records contract (:data:`medlake.fhir.records.RECORD_COLUMNS`: ``source_uri``,
        ``position``, ``position_kind``, ``raw_text``, ``request_method``, ``full_url``,
        ``request_url``, ``source_order`` = file index ``<< SOURCE_ORDER_SHIFT`` + position) plus
        ``request_time`` (timestamp): when a Bundle entry's request took effect, the Bundle's
        ``timestamp`` as an instant, else the file's modification time (it dates DELETEs, see
        :mod:`medlake.fhir.versions`); null for whole-file records.

    Examples
    --------
    >>> records = read_bundles(spark, listing_frame(spark, list_files(spark, ["bundles/"], r"\\.json$")))  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    from medlake.fhir.records import SOURCE_ORDER_SHIFT
    from medlake.listing import reader_path

    uris = sorted(row.uri for row in files.select("uri").collect())
    if not uris:
        return spark.createDataFrame([], _split_schema()).select(
            *_RECORD_COLUMNS, F.lit(None).cast("long").alias("source_order"),
            F.lit(None).cast("timestamp").alias("request_time"))
    order = spark.createDataFrame(
        [(uri, (first_file_index + index) << SOURCE_ORDER_SHIFT) for index, uri in enumerate(uris)],
        "source_uri string, file_order long")
    split = (
        spark.read.format("binaryFile").load([reader_path(uri) for uri in uris])
        .select("path", "content", "modificationTime")
        .mapInPandas(_split_files, _split_schema())
    )
    request_time = F.when(
        F.col("position_kind") == PositionKind.BUNDLE_ENTRY.value,
        F.coalesce(F.try_to_timestamp(F.col("bundle_timestamp")), F.col("modification_time")),
    )
    return split.join(F.broadcast(order), "source_uri", "left").select(
        *_RECORD_COLUMNS, (F.col("file_order") + F.col("position")).alias("source_order"),
        request_time.alias("request_time"))
