"""What a user sees in the terminal: one block per error, no third-party chatter, bars and log
lines that do not overwrite each other.

- :func:`user_error_exit` turns an error a user can fix (missing or corrupt input, bad config or
  checkpoint, a refused re-run) into one block naming the file and the fix, and exit status 2;
  ``MESYNTH_DEBUG=1`` (or Hydra's ``HYDRA_FULL_ERROR=1``) raises it with the full traceback.
  Anything else is a bug and keeps its traceback.
- :func:`quiet_third_party` drops Lightning's advertising tips, its "GPU/TPU/HPU available:
  False" lines on machines without them, and the ``LeafSpec`` deprecation warning that
  Lightning triggers in recent torch versions.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from traceback import print_exception

DEBUG_ENV = "MESYNTH_DEBUG"
PACKAGE_DIR = Path(__file__).resolve().parent
USER_ERROR_EXIT = 2
INTERRUPTED_EXIT = 130
# Errors that are always about the user's files.
_FILE_ERRORS = (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)
_LIGHTNING_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
)
_CHATTER = ("💡 Tip:", "GPU available: False", "TPU available: False", "HPU available: False")


def debugging() -> bool:
    return any(
        os.environ.get(name, "") not in ("", "0") for name in (DEBUG_ENV, "HYDRA_FULL_ERROR")
    )


def _raised_by_mesynth(error: BaseException) -> bool:
    """Whether ``error`` was raised on purpose by mesynth's own code (its innermost frame)."""
    traceback = error.__traceback__
    if traceback is None:
        return False
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    try:
        return Path(traceback.tb_frame.f_code.co_filename).resolve().is_relative_to(PACKAGE_DIR)
    except (OSError, ValueError):
        return False


def is_user_error(error: BaseException) -> bool:
    """An error whose message tells the user what to fix (as opposed to a bug)."""
    if isinstance(error, _FILE_ERRORS):
        return True
    if not isinstance(error, Exception):
        return False
    module = type(error).__module__
    if module.startswith(("mesynth.", "omegaconf.")) or module == "hydra.errors":
        return True  # mesynth's own error types; bad config keys and interpolations
    return isinstance(error, ValueError | RuntimeError) and _raised_by_mesynth(error)


def error_block(error: BaseException) -> str:
    message = str(error).strip() or type(error).__name__
    return (
        f"\nmesynth: error: {message}\n"
        f"(this is a problem with the input or the settings; {DEBUG_ENV}=1 shows the traceback)\n"
    )


def user_error_exit(error: BaseException) -> None:
    """Exit with one block for a user error or Ctrl-C; return (so the caller re-raises) else."""
    if debugging():
        return
    if isinstance(error, KeyboardInterrupt):
        sys.stderr.write(
            "\nmesynth: interrupted (Ctrl-C); nothing unfinished was left looking complete\n"
        )
        sys.stderr.flush()
        raise SystemExit(INTERRUPTED_EXIT) from None
    if is_user_error(error):
        sys.stderr.write(error_block(error))
        sys.stderr.flush()
        raise SystemExit(USER_ERROR_EXIT) from None


class _DropChatter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not message.startswith(_CHATTER)


def quiet_third_party() -> None:
    """Silence Lightning's tips and its no-GPU lines, and torch's LeafSpec deprecation."""
    for name in _LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropChatter) for f in logger.filters):
            logger.addFilter(_DropChatter())
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*")


def print_error(error: BaseException, prefix: str = "mesynth") -> None:
    """One line ``prefix: message`` on stderr, for a command that names each of several problems
    and goes on; ``MESYNTH_DEBUG=1`` prints the traceback before it."""
    if debugging():
        print_exception(error)
    print(f"{prefix}: {error}", file=sys.stderr)
