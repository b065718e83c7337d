"""Server credentials at rest: Fernet tokens under keys from FIELD_ENCRYPTION_KEYS.

The first key encrypts; every key decrypts (MultiFernet), so a new key can be put in front and
`manage.py rotate_credentials` re-encrypts the stored tokens before the old key is removed.
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class CredentialError(Exception):
    """A stored secret cannot be read with the configured keys."""


@cache
def _fernet() -> MultiFernet:
    keys = settings.FIELD_ENCRYPTION_KEYS
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS holds no key.")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must hold Fernet keys (32 url-safe base64-encoded bytes), comma-separated."
        ) from None


def seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode() if secret else ""


def reveal(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise CredentialError("The stored credential cannot be decrypted with the configured keys.") from None


def rotate(token: str) -> str:
    return _fernet().rotate(token.encode()).decode() if token else ""
