"""Turn FHIR StructureDefinitions into a tree of columns by medlake's schema rules.

The rules (``ARCHITECTURE.md`` §2, issue 3):

* a choice element ``x[x]`` becomes one column per allowed type, named as in JSON (``valueQuantity``);
* ``extension``, ``modifierExtension``, ``contained`` and elements typed ``Resource``
  (``Bundle.entry.resource``) hold the JSON text of their items, at every depth;
* every primitive element ``x`` gets its JSON sibling ``_x`` (``struct<id, extension>``, an array of
  them when ``x`` repeats), except XML attributes (``Element.id``, ``Extension.url``) and xhtml;
* recursion through data types (Identifier.assigner → Reference → Identifier) and through
  ``contentReference`` (QuestionnaireResponse.item.item) is cut: an element is expanded only while
  its type (or referenced element) occurs fewer than ``max_recursion_depth`` times among its
  ancestors, so depth 1 makes columns of ``QuestionnaireResponse.item`` and keeps each
  ``item.item`` as JSON text; below the cut nothing is dropped, only kept as text;
* numbers keep their exact value and dates their text (see :data:`SPARK_TYPES`).

The tree is pure Python; :mod:`medlake.fhir.schema` writes it as Spark JSON and
:mod:`medlake.fhir.catalog` as Markdown.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from medlake.fhir.definitions import ElementDefinition, FhirDefinitions, StructureDefinition

__all__ = [
    "DEFAULT_MAX_RECURSION_DEPTH",
    "MAX_LEAVES",
    "MAX_NESTING_DEPTH",
    "DECIMAL_TYPE",
    "SPARK_TYPES",
    "Column",
    "resource_columns",
    "leaf_count",
    "nesting_depth",
]

#: Nested levels of one recursive structure that become columns (why: :mod:`medlake.fhir.schema`).
DEFAULT_MAX_RECURSION_DEPTH = 1
#: Most leaf fields one type may have (StructureDefinition: 18 827 at the default depth).
MAX_LEAVES = 20_000
#: Most struct levels one type may have (StructureDefinition, StructureMap: 11).
MAX_NESTING_DEPTH = 12

#: Spark type of FHIR ``decimal``: 38 digits (Spark's maximum), 19 of them after the point. FHIR
#: asks for at least 18 significant digits; scale 19 keeps e.g. ``0.1234567890123456789`` exact and
#: leaves 19 integer digits (values below 10**19, beyond any 64-bit integer). A value needing more
#: digits is rounded or rejected by Spark and then caught by the round-trip check.
DECIMAL_TYPE = "decimal(38,19)"

#: Spark type per FHIR primitive type (and FHIRPath system type); every other primitive is text,
#: including date, dateTime, time and instant, whose partial forms (``2015-05``) are valid FHIR.
SPARK_TYPES = {
    "boolean": "boolean",
    "integer": "integer",
    "positiveInt": "integer",
    "unsignedInt": "integer",
    "decimal": DECIMAL_TYPE,
    "http://hl7.org/fhirpath/System.Boolean": "boolean",
    "http://hl7.org/fhirpath/System.Integer": "integer",
    "http://hl7.org/fhirpath/System.Decimal": DECIMAL_TYPE,
}
_TEXT = "string"
_STRUCT = "struct"

#: Type codes whose items are stored as JSON text.
_JSON_TEXT_TYPES = frozenset({"Extension", "Resource"})
#: Type codes whose children are defined inline, under the element's own path.
_INLINE_TYPES = frozenset({"Element", "BackboneElement"})
_XML_ATTRIBUTE = "xmlAttr"
_XHTML = "xhtml"
_CHOICE_SUFFIX = "[x]"
_EXTENSION_SHORT = "Additional content defined by implementations"


@dataclass(frozen=True)
class Column:
    """One Spark column (or struct field) with its FHIR cardinality and short description.

    ``fhir_type`` is the FHIR type code (``HumanName``, ``BackboneElement``, ``string``).
    ``spark_type`` is a Spark type name (``string``, ``boolean``, ``integer``, ``decimal(38,19)``)
    or ``struct`` with ``children``; ``repeated`` wraps it in an array. ``json_text`` marks a text
    column holding the JSON of the element's items; ``recursion_cut`` marks those made so by a cut.
    """

    name: str
    fhir_type: str
    spark_type: str
    repeated: bool
    cardinality: str
    short: str
    json_text: bool = False
    recursion_cut: bool = False
    children: tuple[Column, ...] = ()


def _capitalised(type_code: str) -> str:
    return type_code[:1].upper() + type_code[1:]


class _Builder:
    """Expands one resource type; holds the definitions and the recursion depth."""

    def __init__(self, definitions: FhirDefinitions, max_recursion_depth: int) -> None:
        self._definitions = definitions
        self._depth = max_recursion_depth

    def children(
        self, sd: StructureDefinition, path: str, ancestors: tuple[str, ...]
    ) -> tuple[Column, ...]:
        columns = [
            column
            for element in sd.children(path)
            if element.max != "0"
            for column in self._element_columns(sd, element, ancestors)
        ]
        _check_case_collisions(path, columns)
        return tuple(columns)

    def _element_columns(
        self, sd: StructureDefinition, element: ElementDefinition, ancestors: tuple[str, ...]
    ) -> list[Column]:
        if element.content_reference is not None:
            target = element.content_reference.split("#", 1)[1]
            return [self._struct(element.name, element.content_reference, element, sd, target,
                                 target, ancestors)]
        if element.name.endswith(_CHOICE_SUFFIX):
            base = element.name[: -len(_CHOICE_SUFFIX)]
            return [
                column
                for code in element.type_codes
                for column in self._typed_columns(
                    base + _capitalised(code), code, element, sd, ancestors
                )
            ]
        (code,) = element.type_codes
        return self._typed_columns(element.name, code, element, sd, ancestors)

    def _typed_columns(
        self,
        name: str,
        code: str,
        element: ElementDefinition,
        sd: StructureDefinition,
        ancestors: tuple[str, ...],
    ) -> list[Column]:
        if code in _JSON_TEXT_TYPES:
            return [_json_text_column(name, code, element)]
        if self._definitions.is_primitive(code):
            value = Column(
                name=name,
                fhir_type=code,
                spark_type=SPARK_TYPES.get(code, _TEXT),
                repeated=element.repeated,
                cardinality=element.cardinality,
                short=element.short,
            )
            if _XML_ATTRIBUTE in element.representation or code == _XHTML:
                return [value]
            return [value, _extension_sibling(name, element)]
        if code in _INLINE_TYPES:
            return [self._struct(name, code, element, sd, element.path, element.path, ancestors)]
        datatype = self._definitions.datatypes[code]
        return [self._struct(name, code, element, datatype, datatype.root.path, code, ancestors)]

    def _struct(
        self,
        name: str,
        fhir_type: str,
        element: ElementDefinition,
        sd: StructureDefinition,
        path: str,
        identity: str,
        ancestors: tuple[str, ...],
    ) -> Column:
        if ancestors.count(identity) >= self._depth:
            return _json_text_column(name, fhir_type, element, recursion_cut=True)
        return Column(
            name=name,
            fhir_type=fhir_type,
            spark_type=_STRUCT,
            repeated=element.repeated,
            cardinality=element.cardinality,
            short=element.short,
            children=self.children(sd, path, (*ancestors, identity)),
        )


def _json_text_column(
    name: str, fhir_type: str, element: ElementDefinition, *, recursion_cut: bool = False
) -> Column:
    return Column(
        name=name,
        fhir_type=fhir_type,
        spark_type=_TEXT,
        repeated=element.repeated,
        cardinality=element.cardinality,
        short=element.short,
        json_text=True,
        recursion_cut=recursion_cut,
    )


def _extension_sibling(name: str, element: ElementDefinition) -> Column:
    """The ``_x`` column carrying the id and extensions of primitive element ``x``."""
    return Column(
        name=f"_{name}",
        fhir_type="Element",
        spark_type=_STRUCT,
        repeated=element.repeated,
        cardinality=element.cardinality,
        short=f"Id and extensions of {name}",
        children=(
            Column(name="id", fhir_type="string", spark_type=_TEXT, repeated=False,
                   cardinality="0..1", short="Unique id for inter-element referencing"),
            Column(name="extension", fhir_type="Extension", spark_type=_TEXT, repeated=True,
                   cardinality="0..*", short=_EXTENSION_SHORT, json_text=True),
        ),
    )


def _check_case_collisions(path: str, columns: Sequence[Column]) -> None:
    names_by_key: dict[str, list[str]] = {}
    for column in columns:
        names_by_key.setdefault(column.name.lower(), []).append(column.name)
    for first, *others in names_by_key.values():
        if others:
            raise ValueError(
                f"Unable to generate the columns of {path} as '{first}' and '{others[0]}' "
                "differ only by case; Spark resolves column names case-insensitively"
            )


def resource_columns(
    definitions: FhirDefinitions, resource_type: str, max_recursion_depth: int
) -> tuple[Column, ...]:
    """Return the top-level columns of ``resource_type``, ``resourceType`` first.

    Parameters
    ----------
    definitions
        The FHIR definitions, from :func:`medlake.fhir.definitions.load_definitions`.
    resource_type
        A concrete resource type name, e.g. ``Patient``.
    max_recursion_depth
        How many nested levels of one data type or referenced element become columns (at least
        1); deeper levels are kept as JSON text.

    Returns
    -------
    tuple[Column, ...]
        The columns in definition order, each primitive followed by its ``_x`` sibling.

    Raises
    ------
    ValueError
        If ``resource_type`` is not a concrete resource type, ``max_recursion_depth`` is below 1,
        or two sibling columns differ only by case.

    Examples
    --------
    >>> from medlake.fhir.definitions import load_definitions
    >>> columns = resource_columns(load_definitions(), "Patient", 1)
    >>> [column.name for column in columns[:6]]
    ['resourceType', 'id', '_id', 'meta', 'implicitRules', '_implicitRules']
    """
    if max_recursion_depth < 1:
        raise ValueError(
            f"Unable to expand recursion as the depth {max_recursion_depth} is below 1, "
            "the level of the resource's own elements"
        )
    sd = definitions.resources.get(resource_type)
    if sd is None or sd.abstract:
        raise ValueError(
            f"Unable to build the columns of '{resource_type}' as it is not one of the "
            f"{len(definitions.resource_types)} concrete FHIR R4 resource types"
        )
    resource_type_column = Column(
        name="resourceType",
        fhir_type="code",
        spark_type=_TEXT,
        repeated=False,
        cardinality="1..1",
        short=f"Type of the resource, always {resource_type}",
    )
    columns = (resource_type_column, *_Builder(definitions, max_recursion_depth).children(
        sd, sd.root.path, (resource_type,)
    ))
    _check_case_collisions(resource_type, columns)
    return columns


def leaf_count(columns: Iterable[Column]) -> int:
    """Count the non-struct fields below ``columns`` (an array counts as its element)."""
    return sum(leaf_count(c.children) if c.children else 1 for c in columns)


def nesting_depth(columns: Iterable[Column]) -> int:
    """Return the number of struct levels down to the deepest leaf (top-level columns: 1)."""
    return max((1 + nesting_depth(c.children) if c.children else 1 for c in columns), default=0)
