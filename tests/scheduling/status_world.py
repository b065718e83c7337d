"""When the status pages' stories book Northwind's window (`conftest.status_window`)."""

from datetime import datetime, timezone

START = datetime(2027, 3, 9, 10, 0, tzinfo=timezone.utc)
