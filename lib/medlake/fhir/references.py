"""Resolve a Bundle's internal and conditional references for the typed parse, on the JVM.

:func:`resolve_references` adds ``parse_text``: the record's text as the typed tables must hold it,
while ``raw_text`` stays exactly as it came (``fhir.raw``). Three changes, all per Bundle file:

* **ids**: an entry's resource without ``id`` gets one, inserted as the first member: from a
  ``PUT Type/<id>`` request URL, else from its ``fullUrl`` — the uuid of ``urn:uuid:<uuid>``, the
  last segment of ``…/Type/<id>``, else the SHA-256 hex of the fullUrl (64 characters, a valid
  FHIR id). The same fullUrl always gives the same id.
* **internal references**: a ``"reference"`` equal to another entry's ``fullUrl`` in the same
  file (``urn:uuid:…``, ``urn:oid:…`` or an absolute URL) becomes ``Type/id`` of that entry.
* **conditional references** ``Type?identifier=[system|]value``: rewritten to ``Type/id`` when
  exactly one resource of that type has that identifier, among this run's records and the lake's
  typed tables (:func:`lake_identifiers`); otherwise kept as written.

References that stay unresolved (an internal one without matching entry, a conditional one with
no or several matches, or other search criteria) are counted in ``unresolved_references``.
Only the text inside ``"reference": "…"`` members is touched (including those inside
extensions and contained resources), never identifiers that happen to hold the same URN.
The typed parse and its round-trip check must both read ``parse_text``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from medlake.expressions import with_column_evaluated_once
from medlake.quarantine import PositionKind

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = [
    "PARSE_TEXT_COLUMN",
    "UNRESOLVED_COLUMN",
    "conditional_reference_types",
    "lake_identifiers",
    "resolve_references",
]

#: The column :func:`resolve_references` adds: the text the typed parse reads.
PARSE_TEXT_COLUMN = "parse_text"
#: The column counting the record's references left as written.
UNRESOLVED_COLUMN = "unresolved_references"

_FHIR_ID = r"^[A-Za-z0-9.-]{1,64}$"
_URN_UUID = r"^urn:uuid:([0-9A-Fa-f-]{36})$"
_URL_ID = r"/[A-Z][A-Za-z]+/([A-Za-z0-9.-]{1,64})$"
_PUT_ID = r"^(?:.*/)?[A-Z][A-Za-z]+/([A-Za-z0-9.-]{1,64})$"
#: A ``"reference": "…"`` member: group 1 is the JSON string's content, still escaped.
_REFERENCE_MEMBER = r'"reference"\s*:\s*"((?:[^"\\]|\\.)*)"'
_CONDITIONAL = r"^([A-Z][A-Za-z]+)\?identifier=([^&]*)$"
_HEAD_SCHEMA = "resourceType string, id string, identifier array<struct<system: string, value: string>>"
_KEYS = ("source_uri", "position_kind", "position")
_BUNDLE_ENTRY = PositionKind.BUNDLE_ENTRY.value


def _effective_id(head: Column) -> Column:
    from pyspark.sql import functions as F

    put_id = F.when(F.upper("request_method") == "PUT", F.regexp_extract("request_url", _PUT_ID, 1))
    url = F.col("full_url")
    from_url = (
        F.when(url.rlike(_URN_UUID), F.regexp_extract(url, _URN_UUID, 1))
        .when(url.rlike(_URL_ID), F.regexp_extract(url, _URL_ID, 1))
        .when(url.isNotNull(), F.sha2(url, 256))
    )
    return F.coalesce(head["id"], F.when(put_id.rlike(_FHIR_ID), put_id), from_url)


def _identifiers(records: DataFrame) -> DataFrame:
    """Return ``resource_type, id, system, value`` of the records' identifiers."""
    from pyspark.sql import functions as F

    return records.select(
        F.col("_head.resourceType").alias("resource_type"), F.col("_id").alias("id"),
        F.explode("_head.identifier").alias("i"),
    ).select("resource_type", "id", "i.system", "i.value")


def lake_identifiers(spark: SparkSession, resource_types: Iterable[str]) -> DataFrame | None:
    """Return ``resource_type, id, system, value`` of the identifiers in the lake's typed tables.

    Types without a table are skipped; ``None`` when none has one.
    """
    from pyspark.sql import functions as F

    from medlake.fhir.tables import typed_table

    frames = [
        spark.table(typed_table(resource_type)).select(
            F.lit(resource_type).alias("resource_type"), "id", F.explode("identifier").alias("i"),
        ).select("resource_type", "id", "i.system", "i.value")
        for resource_type in sorted(set(resource_types))
        if spark.catalog.tableExists(typed_table(resource_type))
    ]
    if not frames:
        return None
    result = frames[0]
    for frame in frames[1:]:
        result = result.unionByName(frame)
    return result


def conditional_reference_types(records: DataFrame) -> list[str]:
    """Return the types that the Bundle entries' conditional references search (one small action)."""
    from pyspark.sql import functions as F

    entries = records.where(F.col("position_kind") == _BUNDLE_ENTRY)
    targets = entries.select(F.explode(F.regexp_extract_all("raw_text", F.lit(_REFERENCE_MEMBER), 1)).alias("r"))
    types = targets.where(F.col("r").rlike(_CONDITIONAL)).select(
        F.regexp_extract("r", _CONDITIONAL, 1)).distinct()
    return sorted(row[0] for row in types.collect())


def _unescape(escaped: Column) -> Column:
    """Decode a JSON string's escaped content."""
    from pyspark.sql import functions as F

    return F.get_json_object(F.concat(F.lit('{"r":"'), escaped, F.lit('"}')), "$.r")


def _resolutions(heads: DataFrame, targets: DataFrame) -> DataFrame:
    """Per Bundle entry with references: the members to replace, and the count left unresolved."""
    from pyspark.sql import functions as F

    entries = heads.where((F.col("position_kind") == _BUNDLE_ENTRY) & F.col("raw_text").rlike(_REFERENCE_MEMBER))
    members = entries.select(
        *_KEYS,
        F.regexp_extract_all("raw_text", F.lit(_REFERENCE_MEMBER), 0).alias("members"),
        F.regexp_extract_all("raw_text", F.lit(_REFERENCE_MEMBER), 1).alias("escaped"),
    ).select(*_KEYS, F.explode(F.arrays_zip("members", "escaped")).alias("m")).select(
        *_KEYS, F.col("m.members").alias("member"), _unescape(F.col("m.escaped")).alias("reference"))
    internal = heads.where(F.col("full_url").isNotNull() & F.col("_id").isNotNull()).select(
        "source_uri", F.col("full_url").alias("reference"),
        F.concat_ws("/", "_head.resourceType", "_id").alias("_internal"),
    ).dropDuplicates(["source_uri", "reference"])
    token = F.split(F.try_url_decode(F.regexp_extract("reference", _CONDITIONAL, 2)), r"\|", 2)
    conditional = members.where(F.col("reference").rlike(_CONDITIONAL)).select(
        *_KEYS, "reference",
        F.regexp_extract("reference", _CONDITIONAL, 1).alias("_type"),
        F.when(F.size(token) == 2, token[0]).alias("_system"),
        F.when(F.size(token) == 2, token[1]).otherwise(token[0]).alias("_value"),
    ).distinct()
    same_system = F.col("c._system").isNull() | F.col("x.system").eqNullSafe(F.nullif("c._system", F.lit("")))
    matches = conditional.alias("c").join(
        targets.alias("x"),
        (F.col("x.resource_type") == F.col("c._type")) & (F.col("x.value") == F.col("c._value")) & same_system,
    ).groupBy(*(F.col(f"c.{key}") for key in _KEYS), F.col("c.reference")).agg(
        F.count_distinct("x.id").alias("_n"), F.first(F.concat_ws("/", "x.resource_type", "x.id")).alias("_found"))
    resolved = (
        members.join(internal, ["source_uri", "reference"], "left")
        .join(matches.where("_n = 1").drop("_n"), [*_KEYS, "reference"], "left")
        .withColumn("_target", F.coalesce("_internal", "_found"))
    )
    candidate = F.col("reference").startswith("urn:") | F.col("reference").rlike(_CONDITIONAL)
    return resolved.groupBy(*_KEYS).agg(
        F.collect_set(F.when(F.col("_target").isNotNull(), F.struct(
            F.col("member"), F.concat(F.lit('"reference": "'), F.col("_target"), F.lit('"')).alias("replacement"),
        ))).alias("_replacements"),
        F.count(F.when(F.col("_target").isNull() & candidate, 1)).cast("int").alias(UNRESOLVED_COLUMN),
    )


def resolve_references(
    records: DataFrame, *, search_types: Sequence[str] = (), lake: DataFrame | None = None
) -> DataFrame:
    """Add ``parse_text`` (ids filled in, references resolved) and ``unresolved_references``.

    Parameters
    ----------
    records
        Ingest records; only Bundle entries are changed, other records get their own text.
    search_types
        Types that conditional references search (:func:`conditional_reference_types`): the
        records of these types are searched for identifiers.
    lake
        ``resource_type, id, system, value`` of identifiers already in the lake
        (:func:`lake_identifiers`), for conditional references; this run's records are searched
        as well.

    Returns
    -------
    DataFrame
        ``records`` with :data:`PARSE_TEXT_COLUMN` and :data:`UNRESOLVED_COLUMN` added.

    Examples
    --------
    >>> types = conditional_reference_types(records)  # doctest: +SKIP
    >>> resolved = resolve_references(records, search_types=types,
    ...                               lake=lake_identifiers(spark, types))  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    head = F.from_json("raw_text", _HEAD_SCHEMA)
    heads = with_column_evaluated_once(
        records.select(*_KEYS, "raw_text", "full_url", "request_method", "request_url"), "_head", head)
    in_bundle = (F.col("position_kind") == _BUNDLE_ENTRY) & F.col("_head.resourceType").isNotNull()
    heads = heads.withColumn("_id", F.when(in_bundle, _effective_id(F.col("_head"))).otherwise(F.col("_head.id")))
    targets = _identifiers(heads.where(F.col("_head.resourceType").isin(list(search_types))))
    if lake is not None:
        targets = targets.unionByName(lake.select("resource_type", "id", "system", "value"))
    targets = targets.where(F.col("value").isNotNull()).distinct()
    resolutions = _resolutions(heads, targets)
    ids = heads.where(F.col("_head.id").isNull() & F.col("_id").isNotNull()).select(*_KEYS, "_id")
    with_id = F.when(
        F.col("_id").isNotNull(),
        F.regexp_replace("raw_text", r"^(\s*\{)", F.concat(F.lit('$1"id": "'), F.col("_id"), F.lit('", '))),
    ).otherwise(F.col("raw_text"))
    replaced = F.aggregate(
        "_replacements", with_id, lambda text, pair: F.replace(text, pair["member"], pair["replacement"]))
    return (
        records.join(ids, list(_KEYS), "left")
        .join(resolutions, list(_KEYS), "left")
        .withColumn(PARSE_TEXT_COLUMN, F.coalesce(replaced, with_id))
        .withColumn(UNRESOLVED_COLUMN, F.coalesce(F.col(UNRESOLVED_COLUMN), F.lit(0)))
        .drop("_id", "_replacements")
    )
