"""Shared by the HTJ2K tests: pydicom's bundled files and pydicom's own decode of them."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.pixels import pixel_array


def read_test_file(name: str) -> bytes:
    """Return the bytes of a test file bundled with pydicom (never downloaded)."""
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.fail(f"pydicom's bundled test file {name} is missing")
    with open(path, "rb") as f:
        return f.read()


def pydicom_frame(data: bytes, index: int) -> np.ndarray:
    """Return pydicom's own decode of frame ``index``, without colour conversion."""
    return pixel_array(dcmread(BytesIO(data)), index=index, raw=True)
