"""Fixtures for the DICOM header tests."""

from __future__ import annotations

import pytest
from bundled_dicom import bundled_bytes


@pytest.fixture(scope="session")
def ct_small() -> bytes:
    return bundled_bytes("CT_small.dcm")
