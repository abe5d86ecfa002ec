"""Character-set outcomes of pydicom's decoding and the three groups of a DICOM person name."""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "REPLACEMENT_CHARACTER",
    "PersonNameGroups",
    "is_charset_error",
    "split_person_name",
]

#: What pydicom puts where bytes could not be decoded (it warns, then decodes with ``errors="replace"``).
REPLACEMENT_CHARACTER = "\ufffd"

# Beginnings of pydicom 3.0 warnings after which decoded text may be wrong: undecodable bytes replaced,
# an unknown Specific Character Set replaced by the default repertoire, an unknown escape sequence.
_CHARSET_ERROR_PREFIXES = (
    "Failed to decode byte string",
    "Unknown encoding",
    "Found unknown escape sequence",
)


class PersonNameGroups(NamedTuple):
    """The component groups of one PN value (PS3.5 6.2.1); a group that is absent or empty is None."""

    alphabetic: str | None
    ideographic: str | None
    phonetic: str | None


def split_person_name(value: str | None) -> PersonNameGroups:
    """Split a decoded PN value into its alphabetic, ideographic and phonetic groups.

    Parameters
    ----------
    value
        The decoded value, groups separated by ``=``; None or empty for an absent name.

    Returns
    -------
    PersonNameGroups
        The three groups, each None where absent or empty.

    Examples
    --------
    >>> split_person_name("Yamada^Tarou=山田^太郎=やまだ^たろう")
    PersonNameGroups(alphabetic='Yamada^Tarou', ideographic='山田^太郎', phonetic='やまだ^たろう')
    >>> split_person_name("=王^小東")
    PersonNameGroups(alphabetic=None, ideographic='王^小東', phonetic=None)
    """
    groups = (value or "").split("=", 2)
    groups += [""] * (3 - len(groups))
    alphabetic, ideographic, phonetic = (group or None for group in groups)
    return PersonNameGroups(alphabetic, ideographic, phonetic)


def is_charset_error(message: str) -> bool:
    """Return whether a pydicom warning says that decoded text may not be what the file holds.

    Parameters
    ----------
    message
        The text of a warning captured while reading a file.

    Returns
    -------
    bool
        True for undecodable bytes, unknown character sets and unknown escape sequences.

    Examples
    --------
    >>> is_charset_error("Unknown encoding 'ISO_IR 999' - using default encoding instead")
    True
    >>> is_charset_error("Invalid value for VR IS: '1A'.")
    False
    """
    return message.startswith(_CHARSET_ERROR_PREFIXES)
