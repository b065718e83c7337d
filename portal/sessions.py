"""Sessions in the database, as Django keeps them, refusing keys Django never issues."""

from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore


class SessionStore(DatabaseSessionStore):
    """A session cookie whose key holds other characters than the lower-case letters and digits
    Django issues names no session. Looking it up could only miss, and a NUL byte in it made
    PostgreSQL refuse the query: a server error on every page and API call."""

    def _validate_session_key(self, key):
        return super()._validate_session_key(key) and set(key) <= set(VALID_KEY_CHARS)
