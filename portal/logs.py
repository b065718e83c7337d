"""Logging filters of the portal's LOGGING setting."""

import logging


class RefusalsWithoutTraceback(logging.Filter):
    """A refused request (403: not yours to do) is a line in the log, not a traceback: it is the
    portal working as meant, and tracebacks would bury the errors that are not."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
