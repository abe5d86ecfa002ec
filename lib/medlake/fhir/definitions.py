"""Read the vendored FHIR R4 4.0.1 StructureDefinitions (the generator's only input).

The two Bundles in ``medlake/fhir/definitions/`` (origin and CC0 licence in the README there) are
reduced to what the schema generator needs: per StructureDefinition its kind and, per snapshot
element, the path, cardinality, type codes, short description, ``contentReference`` and
``representation``.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

__all__ = [
    "ElementDefinition",
    "StructureDefinition",
    "FhirDefinitions",
    "DEFINITION_FILES",
    "load_definitions",
]

#: The vendored Bundles, resources first, in the package folder ``medlake/fhir/definitions``.
DEFINITION_FILES = ("profiles-resources.json.gz", "profiles-types.json.gz")

_PRIMITIVE_KIND = "primitive-type"
_RESOURCE_KIND = "resource"
#: Type codes of the FHIRPath system types used for ``id``, ``Extension.url`` and primitive values.
_SYSTEM_TYPE_PREFIX = "http://hl7.org/fhirpath/System."


@dataclass(frozen=True)
class ElementDefinition:
    """One snapshot element of a StructureDefinition, reduced to what the generator reads."""

    path: str
    min: int
    max: str
    type_codes: tuple[str, ...]
    short: str
    content_reference: str | None
    representation: tuple[str, ...]

    @property
    def name(self) -> str:
        """The last segment of the path, e.g. ``value[x]`` for ``Observation.value[x]``."""
        return self.path.rsplit(".", 1)[-1]

    @property
    def repeated(self) -> bool:
        """Whether the element may occur more than once (``max`` other than ``0`` or ``1``)."""
        return self.max not in ("0", "1")

    @property
    def cardinality(self) -> str:
        """The FHIR cardinality as written in the specification, e.g. ``0..*``."""
        return f"{self.min}..{self.max}"


@dataclass(frozen=True)
class StructureDefinition:
    """A resource or data type definition with its snapshot elements indexed by parent path."""

    name: str
    kind: str
    abstract: bool
    elements: tuple[ElementDefinition, ...]
    _children: Mapping[str, tuple[ElementDefinition, ...]] = field(repr=False, compare=False)

    @property
    def root(self) -> ElementDefinition:
        """The first snapshot element, whose path is the type name."""
        return self.elements[0]

    def children(self, path: str) -> tuple[ElementDefinition, ...]:
        """Return the direct child elements of ``path`` in definition order."""
        return self._children.get(path, ())


@dataclass(frozen=True)
class FhirDefinitions:
    """All base resource and data type StructureDefinitions of FHIR R4 4.0.1, by name."""

    resources: Mapping[str, StructureDefinition]
    datatypes: Mapping[str, StructureDefinition]

    @property
    def resource_types(self) -> list[str]:
        """The concrete (non-abstract) resource type names, sorted."""
        return sorted(name for name, sd in self.resources.items() if not sd.abstract)

    def is_primitive(self, type_code: str) -> bool:
        """Whether ``type_code`` is a FHIR primitive type or a FHIRPath system type."""
        if type_code.startswith(_SYSTEM_TYPE_PREFIX):
            return True
        definition = self.datatypes.get(type_code)
        return definition is not None and definition.kind == _PRIMITIVE_KIND


def _element(raw: Mapping[str, Any]) -> ElementDefinition:
    return ElementDefinition(
        path=raw["path"],
        min=int(raw.get("min", 0)),
        max=str(raw.get("max", "*")),
        type_codes=tuple(item["code"] for item in raw.get("type", ())),
        short=raw.get("short", ""),
        content_reference=raw.get("contentReference"),
        representation=tuple(raw.get("representation", ())),
    )


def _structure_definition(raw: Mapping[str, Any]) -> StructureDefinition:
    elements = tuple(_element(item) for item in raw["snapshot"]["element"])
    children: dict[str, list[ElementDefinition]] = {}
    for element in elements[1:]:
        children.setdefault(element.path.rsplit(".", 1)[0], []).append(element)
    return StructureDefinition(
        name=raw["name"],
        kind=raw["kind"],
        abstract=bool(raw.get("abstract", False)),
        elements=elements,
        _children={path: tuple(items) for path, items in children.items()},
    )


def _read_bundle(file_name: str) -> list[StructureDefinition]:
    package = resources.files("medlake.fhir") / "definitions" / file_name
    with gzip.open(package.open("rb"), "rt", encoding="utf-8") as stream:
        bundle = json.load(stream)
    return [_structure_definition(entry["resource"]) for entry in bundle["entry"]]


@lru_cache(maxsize=1)
def load_definitions() -> FhirDefinitions:
    """Read the vendored StructureDefinitions once per process.

    Returns
    -------
    FhirDefinitions
        Resources (``kind == "resource"``) and data types, each by name.

    Examples
    --------
    >>> definitions = load_definitions()
    >>> len(definitions.resource_types)
    146
    >>> definitions.resources["Patient"].root.short
    'Information about an individual or animal receiving health care services'
    """
    resources_file, types_file = DEFINITION_FILES
    resource_definitions = [
        sd for sd in _read_bundle(resources_file) if sd.kind == _RESOURCE_KIND
    ]
    return FhirDefinitions(
        resources={sd.name: sd for sd in resource_definitions},
        datatypes={sd.name: sd for sd in _read_bundle(types_file)},
    )
