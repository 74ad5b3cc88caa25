"""Make the files of an entry present and valid: skip what is there, fetch, validate, install.

A file is renamed into place (or an archive extracted) only after it validates; a download that
fails is removed and the error says why. A present file that does not validate is reported,
never deleted.
"""

from __future__ import annotations

import logging
import os
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mesynth.console import print_error
from mesynth.download.archive import dataset_problem, extract
from mesynth.download.errors import (
    ConfigError,
    DownloadError,
    Interrupted,
    InvalidFileError,
    OfflineError,
    UnreachableError,
)
from mesynth.download.http import fetch, part_path
from mesynth.download.sources import (
    DownloadConfig,
    Entry,
    FileSpec,
    NetworkSettings,
    file_result,
    is_local,
    load_config,
    normalise_url,
    offline_fix,
    offline_requested,
    plan,
    resolve_urls,
    with_dirs,
)
from mesynth.download.validation import ValidationCache, record, validate, validate_cached

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What became of one file: its path when it is present and valid, else the error."""

    entry: str
    spec: FileSpec
    path: Path | None
    error: DownloadError | None = None


@dataclass(frozen=True)
class _Job:
    """One file to make present: where it goes, where it comes from, what checks it."""

    entry: Entry
    spec: FileSpec
    directory: Path
    url: str
    wing: Path | None  # the landmark network a high-pass checkpoint is checked with
    cache: ValidationCache

    @property
    def label(self) -> str:
        return f"{self.entry.name}: {self.spec.basename}"

    @property
    def final(self) -> Path:
        return self.directory / self.spec.path


@dataclass
class _RunState:
    """What one run has learnt so far, for the files after it."""

    wing_of: dict[str, Path] = field(default_factory=dict)  # entry -> its valid landmark network
    wing_lost: dict[str, str] = field(default_factory=dict)  # entry -> its one that was not had
    unreachable: set[str] = field(default_factory=set)  # hosts not to try again


def download_all(
    names: Sequence[str],
    config: DownloadConfig,
    *,
    url: str | Mapping[str, str] | None = None,
    force: bool = False,
    offline: bool | None = None,
    progress: bool = True,
    keep_going: bool = True,
) -> list[Outcome]:
    """Make the files of ``names`` and of what they require present and valid, each once.

    Returns one :class:`Outcome` per file, requirements first. ``url`` overrides the sources of
    ``names[0]``; ``force`` fetches the named entries again (not their requirements). With
    ``keep_going`` a failure is recorded and the next file tried, so every missing file is named;
    otherwise it stops at the first. Ctrl-C raises :class:`Interrupted`.
    """
    offline_why = offline_fix(offline, config) if offline_requested(offline, config) else None
    state = _RunState()
    outcomes: list[Outcome] = []
    for name in plan(names, config):
        entry = config.entries[name]
        overrides = url if url is not None and name == names[0] else None
        urls = {path: normalise_url(u) for path, u in resolve_urls(entry, overrides).items()}
        wing = next((state.wing_of[r] for r in entry.requires if r in state.wing_of), None)
        for spec in entry.files:
            directory = config.dirs[entry.dir]
            job = _Job(entry, spec, directory, urls[spec.path], wing, ValidationCache(directory))
            outcome = _obtain_recorded(
                job,
                config.network,
                state,
                force=force and name in names,
                offline=offline_why,
                progress=progress,
            )
            outcomes.append(outcome)
            if outcome.error is not None and not keep_going:
                return outcomes
    return outcomes


def _obtain_recorded(
    job: _Job,
    network: NetworkSettings,
    state: _RunState,
    *,
    force: bool,
    offline: tuple[str, str] | None,
    progress: bool,
) -> Outcome:
    """:func:`_obtain` with its failure as an :class:`Outcome`, and what it teaches ``state``."""
    entry, spec = job.entry, job.spec
    lost = next((state.wing_lost[r] for r in entry.requires if r in state.wing_lost), None)
    try:
        path = _obtain(
            job,
            network,
            force=force,
            offline=offline,
            progress=progress,
            # only a high-pass checkpoint needs another file (wing) to be checked
            blocked_by=lost if spec.check == "official" else None,
            unreachable=state.unreachable,
        )
    except KeyboardInterrupt:
        part = part_path(job.final)
        kept = f" ({part} is kept)" if part.exists() else ""
        raise Interrupted(f"{job.label}: interrupted; the same command resumes{kept}") from None
    except DownloadError as err:
        error = err
    except OSError as err:  # the local side: a folder not writable, a full disk
        where = err.filename or job.directory
        error = DownloadError(
            f"{job.label}: cannot write {where} ({err.strerror or err}); make room or choose "
            "another folder with --dir / --data-dir, then run the same command again"
        )
        error.__cause__ = err
    else:
        if spec.check == "wing":
            state.wing_of[entry.name] = path
        return Outcome(entry.name, spec, path)
    if spec.check == "wing":
        state.wing_lost[entry.name] = spec.basename
    return Outcome(entry.name, spec, None, error)


def _obtain(
    job: _Job,
    network: NetworkSettings,
    *,
    force: bool,
    offline: tuple[str, str] | None,
    progress: bool,
    blocked_by: str | None,
    unreachable: set[str],
) -> Path:
    """Make one file present and valid; ``offline`` is (why, how to undo it) when offline.

    A host in ``unreachable`` failed earlier in this run and is not tried again."""
    present = _present(job, force=force, blocked_by=blocked_by)
    if present is not None:
        return present
    _refuse_to_fetch(job, offline, blocked_by, unreachable)
    host = None if is_local(job.url) else urllib.parse.urlsplit(job.url).netloc
    if force:
        part_path(job.final).unlink(missing_ok=True)
    try:
        part, confirmed = fetch(
            job.url,
            job.final,
            network,
            label=job.label,
            expected_size=job.spec.size,
            progress=progress,
            on_total=lambda total: job.cache.remember_size(job.spec.path, total),
        )
    except UnreachableError:
        if host is not None:
            unreachable.add(host)
        raise
    return _install(job, part, confirmed, progress)


def _present(job: _Job, *, force: bool, blocked_by: str | None) -> Path | None:
    """The file (or extracted dataset) already there and valid; None when it is to be fetched."""
    spec, final, label = job.spec, job.final, job.label
    result = file_result(spec, job.directory)
    if spec.check == "zip" and result.exists():
        problem = dataset_problem(result, spec)
        if problem is not None:  # e.g. the checkpoint folder afhq/ where the dataset afhq/ goes
            raise InvalidFileError(
                f"{label}: {result} is in the way: it is not the extracted dataset ({problem}). "
                "It is never deleted: move it away, or extract the dataset elsewhere with "
                "--data-dir DIR."
            )
        if not force:
            log.info("%s: already extracted in %s", label, result)
            return result
    if spec.check == "zip" or not final.exists() or force:
        return None
    if blocked_by is not None:
        raise DownloadError(
            f"{label}: {final} is there but cannot be checked without {blocked_by}, which "
            "could not be had (see above)"
        )
    try:
        validate_cached(final, spec, job.wing, job.cache, spec.path)
    except InvalidFileError as err:
        # Never delete a file we did not just download: the user decides.
        raise InvalidFileError(
            f"{label}: the file already there is not valid: {err}. Pass --force to "
            "download it again (it is replaced only by a copy that validates)."
        ) from err
    log.info("%s: already present and valid: %s", label, final)
    return final


def _refuse_to_fetch(
    job: _Job, offline: tuple[str, str] | None, blocked_by: str | None, unreachable: set[str]
) -> None:
    """Raise when the file is not to be fetched: offline, unverifiable, or its host is down."""
    spec, url, label = job.spec, job.url, job.label
    if offline is not None and not is_local(url):
        why, undo = offline
        get_it = (
            f"extract {spec.basename} there, pass --url with a local copy of it"
            if spec.check == "zip"
            else "copy the file there, pass --url with a local path"
        )
        raise OfflineError(
            f"{file_result(spec, job.directory)} is missing ({label}); offline because of "
            f"{why}, so it is not downloaded from {url}. To get it: {get_it}, or {undo}."
        )
    if blocked_by is not None:
        raise DownloadError(
            f"{label}: not fetched: it cannot be checked without {blocked_by}, which could not "
            "be had (see above)"
        )
    host = None if is_local(url) else urllib.parse.urlsplit(url).netloc
    if host is not None and host in unreachable:
        raise UnreachableError(f"{label}: not tried: {host} could not be reached (see above)")


def _install(job: _Job, part: Path, confirmed: bool, progress: bool) -> Path:
    """Validate the finished ``.part``, then rename it into place (or extract the archive)."""
    spec, label, url = job.spec, job.label, job.url
    try:
        validate(part, spec.check, spec.size, job.wing, spec.sha256)
    except InvalidFileError as err:
        part.unlink()
        maybe_cut = (
            ""
            if confirmed
            else " The server gave no size and cannot resume, so the transfer may have been cut."
        )
        raise InvalidFileError(
            f"{label} from {url} is invalid and was removed: {err}.{maybe_cut} Run again to "
            "retry, or use --url with a mirror."
        ) from err
    job.cache.remember_size(spec.path, part.stat().st_size)
    if spec.check == "zip":
        try:
            extracted = extract(part, spec, job.directory, progress)
        except InvalidFileError as err:
            part.unlink()
            raise InvalidFileError(
                f"{label} from {url} was removed: {err}. Use --url with the right archive."
            ) from err
        part.unlink()
        log.info("%s: extracted to %s", label, extracted)
        return extracted
    os.replace(part, job.final)
    job.cache.remember_valid(spec.path, record(job.final, spec, job.wing))
    log.info("%s: saved %s", label, job.final)
    return job.final


def download(
    name: str,
    directory: str | Path | None = None,
    *,
    data_dir: str | Path | None = None,
    config: DownloadConfig | None = None,
    url: str | Mapping[str, str] | None = None,
    force: bool = False,
    offline: bool | None = None,
    progress: bool = True,
) -> list[Path]:
    """Make every file of entry ``name`` (and what it requires) present and valid.

    Returns the paths of ``name``'s own files. ``directory`` replaces the checkpoint folder and
    ``data_dir`` the dataset folder (None: the config's ``dirs``); ``url`` overrides the source
    (one URL for a one-file entry, or a mapping file name -> URL); ``force`` fetches again even
    when a valid copy is present. Raises :class:`DownloadError` (or a subclass) at the first
    file that cannot be obtained.
    """
    config = with_dirs(config or load_config(), directory, data_dir)
    outcomes = download_all(
        [name],
        config,
        url=url,
        force=force,
        offline=offline,
        progress=progress,
        keep_going=False,
    )
    for outcome in outcomes:
        if outcome.error is not None:
            raise outcome.error
    return [outcome.path for outcome in outcomes if outcome.entry == name]


def ensure_weights(
    name: str, directory: str | Path | None = None, offline: bool | None = None
) -> Path | None:
    """Path of entry ``name``'s first file, downloading it if needed (``directory``: checkpoints).

    Returns None after printing one line to stderr when it cannot be had (offline, host
    unreachable, invalid download); the caller then decides what to run instead.
    """
    try:
        return download(name, directory, offline=offline)[0]
    except (DownloadError, ConfigError) as err:
        print_error(err, "mesynth")
        return None
