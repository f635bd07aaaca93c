"""How log lines look on a console: what a person reads, without timestamps and logger names
(``train.log`` keeps those). Stdlib only: Hydra's logging setup imports it before the job."""

from __future__ import annotations

import logging


class ConsoleFormatter(logging.Formatter):
    """INFO lines as they are; warnings and errors with their level in front (``warning: ...``)."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {message}"
        return message
