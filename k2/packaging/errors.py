"""The one error the artifact build raises, so the command can show it without a traceback."""

from __future__ import annotations


class PackagingError(RuntimeError):
    """The artifact cannot be built as asked; the message says why and what to look at."""
