from __future__ import annotations

import pytest

from tests.adapters.helpers import FIXTURES


@pytest.fixture(scope="session", autouse=True)
def _real_samples_present() -> None:
    # Fail loudly rather than skip: these tests exist to run against the real samples.
    assert FIXTURES.is_dir(), f"real samples not found at {FIXTURES}"
