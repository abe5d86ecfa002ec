"""JSON text with exact decimals, as FHIR servers write it (``1.50`` stays ``1.50``).

Python's ``json`` module has no way to write a decimal number with the digits one chose, so the
generators put :func:`exact_decimal` markers in their dictionaries and :func:`dumps_json` turns
the markers into bare JSON numbers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["exact_decimal", "dumps_json"]

_MARK = "\x00decimal:"
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
# json.dumps always escapes U+0000, so the marker reads as below in its output.
_MARKED = re.compile(r'"\\u0000decimal:([-+.0-9eE]+)"')


def exact_decimal(text: str) -> str:
    """Return a marker that :func:`dumps_json` writes as the JSON number ``text``, digit for digit.

    Raises
    ------
    ValueError
        If ``text`` is not a JSON number.

    Examples
    --------
    >>> dumps_json({"value": exact_decimal("1.50")})
    '{"value":1.50}'
    """
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"Unable to use {text!r} as a decimal as it is not a JSON number")
    return _MARK + text


def dumps_json(document: Mapping[str, Any], *, indent: int | None = None) -> str:
    """Return ``document`` as UTF-8-ready JSON text, compact unless ``indent`` is given.

    Examples
    --------
    >>> dumps_json({"name": "山田", "n": 2})
    '{"name":"山田","n":2}'
    """
    separators = (",", ": ") if indent is not None else (",", ":")
    text = json.dumps(document, ensure_ascii=False, separators=separators, indent=indent)
    return _MARKED.sub(r"\1", text)
