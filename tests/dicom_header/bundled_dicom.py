"""pydicom's bundled test files, read from the installed wheel (never downloaded)."""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.data import get_charset_files, get_testdata_file

DATA_ROOT = Path(pydicom.__file__).parent / "data"


def bundled_bytes(name: str) -> bytes:
    """Return a file bundled in pydicom's ``test_files`` (relative path) or ``charset_files``."""
    if name.startswith("chr"):
        return Path(get_charset_files(name)[0]).read_bytes()
    path = DATA_ROOT / "test_files" / name
    if not path.is_file():
        path = Path(str(get_testdata_file(name, download=False)))
    return path.read_bytes()


def every_bundled_file() -> list[Path]:
    """Every file in pydicom's bundled ``test_files`` and ``charset_files`` folders, recursively."""
    return sorted(p for folder in ("test_files", "charset_files")
                  for p in (DATA_ROOT / folder).rglob("*") if p.is_file())


