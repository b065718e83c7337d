"""Logging filters of the portal's LOGGING setting."""

import logging


class RefusalsWithoutTraceback(logging.Filter):
    """A refused request is the portal working as meant: a 403 (not yours to do) is a line in the
    log, not a traceback, and a 409 (someone moved first; the person is shown what stands now) is
    a line at INFO, not a warning. Tracebacks and warnings are left for what needs a look."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if status == 403:
            record.exc_info = None
            record.exc_text = None
        elif status == 409 and record.levelno > logging.INFO:
            # The logger let it through as a warning: it is shown only where INFO would be.
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            return logging.getLogger(record.name).isEnabledFor(logging.INFO)
        return True
