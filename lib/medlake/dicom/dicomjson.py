"""The DICOM JSON model (PS3.18 F.2) of a parsed header, with large values as BulkDataURIs.

pydicom's ``Dataset.to_json_dict`` reads deferred values into memory and applies its bulk-data
threshold to binary VRs only, so a large DS or IS value (RT ContourData) is converted to Python
numbers whole. This walk looks at each element's raw length first: a value above the threshold,
of any VR but SQ, is never converted and becomes a ``BulkDataURI`` pointing at its bytes in the
file. Every other element is converted, which is also what forces pydicom's lazy parsing (and its
character-set decoding) of the whole header.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.valuerep import PersonName

from medlake.dicom.classify import Rejection
from medlake.quarantine import QuarantineReason

__all__ = ["BulkDataUriFactory", "bulk_data_uri", "dataset_to_dicom_json", "element_is_deferred"]

#: Builds the BulkDataURI of the value at ``offset`` with ``length`` bytes.
BulkDataUriFactory = Callable[[int, int], str]

_UNDEFINED_LENGTH = 0xFFFFFFFF
_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_INTEGER_VRS = frozenset({"IS", "SL", "SS", "SV", "UL", "US", "UV"})
_FLOAT_VRS = frozenset({"FL", "FD"})


def bulk_data_uri(source_uri: str, offset: int, length: int, *, inflated: bool = False) -> str:
    """Return the URI of ``length`` bytes at ``offset`` in ``source_uri``.

    Parameters
    ----------
    source_uri
        The file the header was read from.
    offset, length
        Where the value starts and how many bytes it has.
    inflated
        True when offsets count in the inflated data set of a Deflated Explicit VR Little Endian
        file rather than in the file's bytes.

    Returns
    -------
    str
        ``source_uri`` with ``offset`` and ``length`` (and ``stream=inflated``) query parameters.

    Examples
    --------
    >>> bulk_data_uri("s3a://bucket/ct/1.dcm", 1500, 8192)
    's3a://bucket/ct/1.dcm?offset=1500&length=8192'
    """
    query = {"offset": offset, "length": length} | ({"stream": "inflated"} if inflated else {})
    separator = "&" if "?" in source_uri else "?"
    return f"{source_uri}{separator}{urlencode(query)}"


def element_is_deferred(raw: RawDataElement) -> bool:
    """Return whether pydicom skipped reading the raw element's value (``defer_size``)."""
    return raw.value is None and raw.length != 0


def dataset_to_dicom_json(
    dataset: Dataset,
    *,
    bulk_uri: BulkDataUriFactory,
    bulk_data_threshold: int,
    stream_size: int,
    bulk_locations: Mapping[int, tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """Return the DICOM JSON object of ``dataset``, converting every element that is not bulk data.

    Parameters
    ----------
    dataset
        A dataset read by pydicom whose raw elements have not been replaced by the caller.
    bulk_uri
        Builds the BulkDataURI of a value from its offset and length.
    bulk_data_threshold
        Values with more bytes than this, of any VR but SQ, become BulkDataURIs.
    stream_size
        Bytes in the stream pydicom read from; an element ending beyond it means the file is truncated.
    bulk_locations
        Top-level tags that are always bulk data (pixel data), with their offset and length.

    Returns
    -------
    dict
        Keys are 8 upper-case hex digits in ascending order; values have ``vr`` and at most one of
        ``Value``, ``InlineBinary`` or ``BulkDataURI``.

    Raises
    ------
    Rejection
        When an element's value reaches beyond the end of the stream (``truncated``).
    """
    walk = _Walk(bulk_uri, bulk_data_threshold, stream_size)
    return walk.dataset(dataset, bulk_locations or {})


class _Walk:
    """One conversion: the settings shared by every nesting level."""

    def __init__(self, bulk_uri: BulkDataUriFactory, threshold: int, stream_size: int) -> None:
        self.bulk_uri = bulk_uri
        self.threshold = threshold
        self.stream_size = stream_size

    def dataset(self, dataset: Dataset, bulk_locations: Mapping[int, tuple[int, int]]) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for tag in sorted(dataset.keys()):
            key = f"{int(tag):08X}"
            raw = dataset.get_item(tag, keep_deferred=True)
            if int(tag) in bulk_locations:
                offset, length = bulk_locations[int(tag)]
                document[key] = {"vr": _vr_of(raw), "BulkDataURI": self.bulk_uri(offset, length)}
            elif isinstance(raw, RawDataElement) and self._is_bulk(raw):
                document[key] = {"vr": _vr_of(raw), "BulkDataURI": self.bulk_uri(raw.value_tell, raw.length)}
            else:
                document[key] = self.element(dataset[tag])
        return document

    def _is_bulk(self, raw: RawDataElement) -> bool:
        if raw.length == _UNDEFINED_LENGTH:
            return False
        if raw.value_tell + raw.length > self.stream_size or (
            raw.value is not None and len(raw.value) < raw.length
        ):
            raise Rejection(QuarantineReason.TRUNCATED,
                            f"Unable to read element {raw.tag} as its value ends beyond the end of the file")
        return _vr_of(raw) != "SQ" and (element_is_deferred(raw) or raw.length > self.threshold)

    def element(self, element: DataElement) -> dict[str, Any]:
        vr = str(element.VR)
        json_element: dict[str, Any] = {"vr": vr}
        if element.is_empty:
            return json_element
        if vr == "SQ":
            json_element["Value"] = [self.dataset(item, {}) for item in element.value]
        elif vr in _BINARY_VRS:
            json_element["InlineBinary"] = base64.b64encode(bytes(element.value)).decode("ascii")
        else:
            values = list(element.value) if element.VM > 1 else [element.value]
            json_element["Value"] = [_json_value(vr, value) for value in values]
        return json_element


def _vr_of(raw: RawDataElement | DataElement) -> str:
    """Return a single VR for an element that is not converted (implicit VR files have none)."""
    vr = raw.VR
    if vr is None:
        try:
            vr = dictionary_VR(raw.tag)
        except KeyError:
            return "UN"
    if " or " in vr:  # ambiguous in the dictionary, e.g. "OB or OW", "US or SS"
        options = vr.split(" or ")
        return "OW" if "OW" in options else options[0]
    return str(vr)


def _json_value(vr: str, value: Any) -> Any:
    """Return one value as PS3.18 F.2 writes it for ``vr``."""
    if value is None or value == "":
        return None
    if vr == "PN":
        name = value if isinstance(value, PersonName) else PersonName(str(value))
        groups = {"Alphabetic": name.alphabetic, "Ideographic": name.ideographic, "Phonetic": name.phonetic}
        return {group: text for group, text in groups.items() if text}
    if vr == "AT":
        return f"{int(value):08X}"
    if vr in _INTEGER_VRS:
        return _number(value, int)
    if vr == "DS":
        text = str(value).strip()
        return _number(text, int if text.lstrip("+-").isdigit() else float)
    if vr in _FLOAT_VRS:
        return _number(value, float)
    return str(value)


def _number(value: Any, kind: Callable[[Any], int | float]) -> int | float | str:
    """Return ``value`` as a JSON number, or its text where it is not a finite number (kept, not lost)."""
    try:
        number = kind(value)
    except (TypeError, ValueError):
        return str(value).strip()
    if isinstance(number, float) and not math.isfinite(number):
        return str(value).strip()
    return number
