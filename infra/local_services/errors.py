"""``ServiceStartError`` and the log excerpts it carries.

A service that cannot start fails loudly with the end of its log; a Java stack trace must
not push the one line that says what went wrong out of that excerpt.
"""

from __future__ import annotations

from pathlib import Path

ERROR_WORDS = ("ERROR", "FATAL", "Exception", "# ")


class ServiceStartError(RuntimeError):
    """A service could not be installed or started; carries its log tail for diagnosis."""

    def __init__(self, name: str, reason: str, log_tail: str = "") -> None:
        self.name = name
        self.reason = reason
        self.log_tail = log_tail
        message = f"{name} could not start: {reason}"
        if log_tail:
            message += f"\n--- last lines of the {name} log ---\n{log_tail}"
        super().__init__(message)


def _tail_text(text: str, lines: int = 40) -> str:
    """Last lines of a log, preceded by earlier error lines: a Java stack trace would
    otherwise push the one line that says what went wrong out of the excerpt."""
    all_lines = text.splitlines()
    head, tail = all_lines[:-lines], all_lines[-lines:]
    errors = [line for line in head if any(word in line for word in ERROR_WORDS)][:10]
    if errors:
        return "\n".join([*errors, "...", *tail])
    return "\n".join(tail)


def _tail(path: Path, lines: int = 40) -> str:
    """Excerpt of a log file for error messages; empty if there is no log yet."""
    try:
        return _tail_text(path.read_text(errors="replace"), lines)
    except OSError:
        return ""
