"""What can go wrong while obtaining a file; each message names the file, the cause and the fix."""

from __future__ import annotations


class ConfigError(ValueError):
    """The download config or the command line names something that does not exist."""


class DownloadError(RuntimeError):
    """A file could not be obtained; the message names the file, the cause and the fix."""


class OfflineError(DownloadError):
    """Offline mode is on and the file is missing."""


class UnreachableError(DownloadError):
    """The host could not be reached at all (refused, unresolvable or silent)."""


class InvalidFileError(DownloadError):
    """A downloaded or present file is not what it claims to be."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a download; the message says what is kept for the next run."""
