"""The demo's run, started in the background by the root conftest (see :mod:`tests.demo.run`)."""

from __future__ import annotations

import pytest

from tests.demo.run import DEMO_RUN, DemoResult


@pytest.fixture(scope="session")
def demo(request: pytest.FixtureRequest) -> DemoResult:
    """The demo's result, once it has ended (the root conftest removes its files at the end)."""
    return request.config.stash[DEMO_RUN].wait()
