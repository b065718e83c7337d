import pytest

from tests.portal.identity import started_providers


@pytest.fixture
def identity_providers():
    """Identity providers on loopback for the single sign-on stories (tests/portal/identity.py)."""
    providers, stop = started_providers()
    yield providers
    stop()
