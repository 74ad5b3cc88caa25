"""Fetch the pretrained files and the datasets named in ``conf/download.yaml``.

``mesynth download NAME`` (also ``python -m mesynth.download NAME``) streams each file to
``<file>.part`` with a progress bar, resumes an interrupted ``.part`` with an HTTP Range request,
retries dropped connections and server errors with exponential backoff, and validates the finished
file (a checkpoint must load, an archive must pass its CRC checks) before renaming it into place.
A file that fails validation is removed and the error says why. Files already present and valid
are not fetched again; a validation that passed is remembered (by size, mtime and inode) in
``.mesynth-validated.json`` beside the files, so listing or re-running does not load torch again.
``MESYNTH_OFFLINE=1`` skips every network attempt.

One module per concern: :mod:`~mesynth.download.sources` (the config), :mod:`.http` (one
transfer with resume and retry), :mod:`.validation` (the checks and their cache),
:mod:`.archive` (dataset extraction), :mod:`.obtain` (present, fetch, validate, install),
:mod:`.listing` (``--list``) and :mod:`.cli`. HTTP goes through the standard library only,
imported when a transfer starts, as are torch (to validate a checkpoint) and tqdm.
"""

from mesynth.console import DEBUG_ENV
from mesynth.download.cli import add_arguments, main, run_cli
from mesynth.download.errors import (
    ConfigError,
    DownloadError,
    Interrupted,
    InvalidFileError,
    OfflineError,
    UnreachableError,
)
from mesynth.download.http import fetch, part_path
from mesynth.download.listing import file_state
from mesynth.download.obtain import Outcome, download, download_all, ensure_weights
from mesynth.download.sources import (
    CONFIG_ENV,
    OFFLINE_ENV,
    DownloadConfig,
    Entry,
    FileSpec,
    NetworkSettings,
    load_config,
    offline_requested,
    plan,
    with_dirs,
)
from mesynth.download.validation import CACHE_NAME, ValidationCache, validate

__all__ = [
    "CACHE_NAME",
    "CONFIG_ENV",
    "DEBUG_ENV",
    "OFFLINE_ENV",
    "ConfigError",
    "DownloadConfig",
    "DownloadError",
    "Entry",
    "FileSpec",
    "Interrupted",
    "InvalidFileError",
    "NetworkSettings",
    "OfflineError",
    "Outcome",
    "UnreachableError",
    "ValidationCache",
    "add_arguments",
    "download",
    "download_all",
    "ensure_weights",
    "fetch",
    "file_state",
    "load_config",
    "main",
    "offline_requested",
    "part_path",
    "plan",
    "run_cli",
    "validate",
    "with_dirs",
]
