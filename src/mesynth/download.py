"""Fetch the pretrained StarGAN v2 files and the datasets named in ``conf/download.yaml``.

``mesynth download NAME`` (also ``python -m mesynth.download NAME``) streams each file to
``<file>.part`` with a progress bar, resumes an interrupted ``.part`` with an HTTP Range request,
retries dropped connections and server errors with exponential backoff, and validates the finished
file (a checkpoint must load, an archive must pass its CRC checks) before renaming it into place.
A file that fails validation is removed and the error says why. Files already present and valid
are not fetched again; a validation that passed is remembered (by size, mtime and inode) in
``.mesynth-validated.json`` beside the files, so listing or re-running does not load torch again.
``MESYNTH_OFFLINE=1`` skips every network attempt.

Checkpoints go to ``dirs.checkpoints`` (``--dir``), datasets to ``dirs.data`` (``--data-dir``).
HTTP goes through the standard library only (``urllib``), imported when a transfer starts, as are
torch (to validate a checkpoint) and tqdm: ``mesynth download --list`` stays quick.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
import traceback
import urllib.parse
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Literal

from mesynth import __version__
from mesynth.atomic import write_atomically
from mesynth.config import conf_dir, to_plain

log = logging.getLogger(__name__)

CONFIG_ENV = "MESYNTH_DOWNLOAD_CONFIG"
OFFLINE_ENV = "MESYNTH_OFFLINE"
DEBUG_ENV = "MESYNTH_DEBUG"
CHECKS = ("official", "wing", "lm_mean", "zip")
# The two `dirs` of the config that the command line can move: --dir and --data-dir.
CHECKPOINTS = "checkpoints"
DATA = "data"
CACHE_NAME = ".mesynth-validated.json"
CACHE_VERSION = 1
# celeba_lm_mean.npz holds the mean of the landmark network's 98 points (x, y).
LM_MEAN_SHAPE = (98, 2)
USER_AGENT = f"mesynth/{__version__} (python-urllib)"
INTERRUPTED_STATUS = 130  # the shell's status for a command stopped by Ctrl-C (128 + SIGINT)
USAGE_STATUS = 2
_RETRY_STATUS = {408, 425, 429}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_MIRROR_HINT = (
    "Use a mirror with --url URL (a local path or file:// URL on a shared drive works too), "
    f"or set {OFFLINE_ENV}=1 to skip downloads."
)


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


class _Transient(Exception):
    """A failure worth retrying (dropped connection, timeout, HTTP 5xx)."""


class _Unreachable(Exception):
    """Connecting failed; fatal unless the host answered earlier in the same download."""


@dataclass(frozen=True)
class FileSpec:
    """One file of an entry: where it goes (relative to the entry's directory) and its source.

    An archive (``check: zip``) is extracted into ``extracts_to``: the archive's folder
    ``archive_root`` (default: ``extracts_to``; ``.`` for an archive with no top folder) becomes
    that folder, which must then hold the sub-folders ``contains``.
    """

    path: str
    url: str
    check: str
    size: int | None = None
    extracts_to: str | None = None
    archive_root: str | None = None
    contains: tuple[str, ...] = ()

    @property
    def basename(self) -> str:
        return PurePosixPath(self.path).name


@dataclass(frozen=True)
class Entry:
    name: str
    description: str
    dir: str
    files: tuple[FileSpec, ...]
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class NetworkSettings:
    connect_timeout_s: float
    read_timeout_s: float
    retries: int
    backoff_s: float
    max_backoff_s: float
    chunk_bytes: int


@dataclass(frozen=True)
class DownloadConfig:
    entries: dict[str, Entry]
    dirs: dict[str, Path]
    network: NetworkSettings
    default: tuple[str, ...]
    offline: bool
    source: str


@dataclass(frozen=True)
class Outcome:
    """What became of one file: its path when it is present and valid, else the error."""

    entry: str
    spec: FileSpec
    path: Path | None
    error: DownloadError | None = None


# ---------------------------------------------------------------------------------------------
# Config


def load_config(path: str | Path | None = None) -> DownloadConfig:
    """Read the download config.

    The repository's ``conf/download.yaml`` (found by :func:`mesynth.config.conf_dir`) is the
    base; ``path`` (or ``$MESYNTH_DOWNLOAD_CONFIG``) is merged over it, so a mirror config only
    needs the entries it changes.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException
    from yaml import YAMLError

    try:
        base_path: Path | None = conf_dir() / "download.yaml"
        base_problem = f"{base_path} is missing"
    except FileNotFoundError as err:  # no checkout (e.g. an installed wheel): --config alone
        base_path, base_problem = None, str(err)
    user_value = path if path is not None else os.environ.get(CONFIG_ENV) or None
    sources = []
    if base_path is not None and base_path.is_file():
        sources.append(base_path)
    if user_value is not None:
        user_path = Path(user_value).expanduser()
        if not user_path.is_file():
            raise ConfigError(
                f"download config {user_path} not found (given by --config or {CONFIG_ENV}); "
                f"point it at a YAML file shaped like conf/download.yaml."
            )
        sources.append(user_path)
    if not sources:
        raise ConfigError(
            f"no download config: {base_problem}. Pass --config PATH or set {CONFIG_ENV}."
        )
    try:
        layers = [OmegaConf.load(source) for source in sources]
        raw = to_plain(OmegaConf.merge(*layers))
    except (OSError, YAMLError, OmegaConfBaseException) as err:
        raise ConfigError(
            f"cannot read download config {', '.join(map(str, sources))}: {err}"
        ) from err
    return _parse_config(raw, " + ".join(str(s) for s in sources))


def _parse_config(raw: object, source: str) -> DownloadConfig:
    def need(mapping: object, key: str, where: str) -> object:
        if not isinstance(mapping, Mapping) or key not in mapping:
            raise ConfigError(f"{source}: `{where}{key}` is missing")
        return mapping[key]

    dirs = {str(k): Path(str(v)) for k, v in dict(need(raw, "dirs", "")).items()}
    net = need(raw, "network", "")
    try:
        network = NetworkSettings(
            connect_timeout_s=float(need(net, "connect_timeout_s", "network.")),
            read_timeout_s=float(need(net, "read_timeout_s", "network.")),
            retries=int(need(net, "retries", "network.")),
            backoff_s=float(need(net, "backoff_s", "network.")),
            max_backoff_s=float(need(net, "max_backoff_s", "network.")),
            chunk_bytes=int(need(net, "chunk_bytes", "network.")),
        )
    except (TypeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"{source}: `network` holds a non-number: {err}") from err
    if network.retries < 0 or network.chunk_bytes <= 0:
        raise ConfigError(f"{source}: network.retries must be >= 0 and chunk_bytes > 0")

    entries: dict[str, Entry] = {}
    for name, body in dict(need(raw, "entries", "")).items():
        where = f"entries.{name}."
        dir_key = str(need(body, "dir", where))
        if dir_key not in dirs:
            raise ConfigError(
                f"{source}: {where}dir is {dir_key!r}; expected one of {sorted(dirs)}"
            )
        files = [
            _parse_file(item, f"{where}files[{index}].", source, need)
            for index, item in enumerate(need(body, "files", where) or [])
        ]
        if not files:
            raise ConfigError(f"{source}: {where}files is empty")
        entries[str(name)] = Entry(
            name=str(name),
            description=str(body.get("description", "")),
            dir=dir_key,
            files=tuple(files),
            requires=tuple(str(n) for n in (body.get("requires") or [])),
        )

    for entry in entries.values():
        pending, seen = list(entry.requires), set()
        while pending:  # follow the chain so that a cycle fails here, not as endless recursion
            required = pending.pop()
            if required not in entries or required == entry.name:
                raise ConfigError(
                    f"{source}: entries.{entry.name}.requires leads to {required!r}, which is "
                    "not another entry"
                )
            if required not in seen:
                seen.add(required)
                pending.extend(entries[required].requires)
    default = tuple(str(n) for n in (raw.get("default") or []))
    for name in default:
        if name not in entries:
            raise ConfigError(f"{source}: default names {name!r}, which is not under `entries`")
    return DownloadConfig(
        entries=entries,
        dirs=dirs,
        network=network,
        default=default,
        offline=_parse_bool(raw.get("offline", False), f"{source}: offline"),
        source=source,
    )


def _parse_file(item: object, where: str, source: str, need: Callable) -> FileSpec:
    check = str(need(item, "check", where))
    if check not in CHECKS:
        raise ConfigError(f"{source}: {where}check is {check!r}; expected one of {CHECKS}")
    size = item.get("size")
    extracts_to = item.get("extracts_to")
    archive_root = item.get("archive_root")
    contains = item.get("contains") or []
    if check == "zip":
        if not extracts_to:
            raise ConfigError(
                f"{source}: {where}extracts_to is missing; a zip entry must name the folder its "
                "archive becomes (e.g. extracts_to: afhq)"
            )
        if not isinstance(contains, list) or not contains:
            raise ConfigError(
                f"{source}: {where}contains is {contains!r}; a zip entry must list the "
                "sub-folders its extracted dataset holds (e.g. contains: [train, val]), so that "
                "another folder of the same name is never taken for the dataset"
            )
    try:
        size = None if size is None else int(size)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: {where}size is {size!r}; expected bytes or null") from None
    return FileSpec(
        path=str(need(item, "path", where)),
        url=str(need(item, "url", where)),
        check=check,
        size=size,
        extracts_to=None if extracts_to is None else str(extracts_to),
        archive_root=None if archive_root is None else str(archive_root),
        contains=tuple(str(c) for c in contains),
    )


def with_dirs(
    config: DownloadConfig, checkpoints: str | Path | None = None, data: str | Path | None = None
) -> DownloadConfig:
    """``config`` with the checkpoint and/or dataset directory replaced (None keeps it)."""
    dirs = dict(config.dirs)
    for key, value in ((CHECKPOINTS, checkpoints), (DATA, data)):
        if value is not None:
            dirs[key] = Path(value).expanduser()
    return replace(config, dirs=dirs)


def _parse_bool(value: object, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE or text == "":
        return False
    raise ConfigError(f"{what}={value!r} is not understood: use 1 (offline) or 0 (online)")


def offline_requested(offline: bool | None = None, config: DownloadConfig | None = None) -> bool:
    """Offline if asked explicitly, else by ``$MESYNTH_OFFLINE``, else by the config's flag."""
    if offline is not None:
        return offline
    env = os.environ.get(OFFLINE_ENV)
    if env is not None and env.strip():
        return _parse_bool(env, OFFLINE_ENV)
    return config.offline if config is not None else False


def _offline_fix(offline: bool | None, config: DownloadConfig) -> tuple[str, str]:
    """(why we are offline, how to go online): only the switches that are actually on."""
    reasons, undo = [], []
    if offline:
        reasons.append("--offline")
        undo.append("run without --offline")
    env = os.environ.get(OFFLINE_ENV)
    env_set = env is not None and env.strip() != ""
    if env_set and _parse_bool(env, OFFLINE_ENV):
        reasons.append(f"{OFFLINE_ENV}={env}")
        undo.append(f"unset {OFFLINE_ENV}")
    if config.offline and not env_set:
        reasons.append(f"offline: true in {config.source}")
        undo.append("set offline: false there")
    return " and ".join(reasons), " and ".join(undo)


def plan(names: Sequence[str], config: DownloadConfig) -> list[str]:
    """``names`` and what they require, each once, every entry after its requirements."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        if name not in config.entries:
            raise ConfigError(f"unknown download {name!r}; available: {', '.join(config.entries)}")
        for required in config.entries[name].requires:
            visit(required)
        order.append(name)

    for name in names:
        visit(name)
    return order


# ---------------------------------------------------------------------------------------------
# HTTP (urllib and http.client are imported here, on the first transfer, not at start-up)


def _opener(network: NetworkSettings):
    import urllib.request

    # urllib has one timeout for everything; a short one for connecting lets an unreachable host
    # fail fast, while a longer one between reads tolerates a slow server.
    def with_read_timeout(connection_class: type) -> type:
        class TimedConnection(connection_class):
            def connect(self) -> None:
                super().connect()
                self.sock.settimeout(network.read_timeout_s)

        return TimedConnection

    class HTTPHandler(urllib.request.HTTPHandler):
        def do_open(self, http_class: type, req: urllib.request.Request, **kwargs: object):
            return super().do_open(with_read_timeout(http_class), req, **kwargs)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def do_open(self, http_class: type, req: urllib.request.Request, **kwargs: object):
            return super().do_open(with_read_timeout(http_class), req, **kwargs)

    return urllib.request.build_opener(HTTPHandler(), HTTPSHandler())


def normalise_url(value: str) -> str:
    """Accept http(s) and file URLs; turn a plain local path into a file:// URL."""
    scheme = urllib.parse.urlsplit(value).scheme.lower()
    if scheme in ("http", "https", "file"):
        return value
    if scheme == "" or len(scheme) == 1:  # a path (a one-letter scheme is a Windows drive)
        return Path(value).expanduser().resolve().as_uri()
    raise ConfigError(f"unsupported URL {value!r}: use http://, https://, file:// or a local path")


def _is_local(url: str) -> bool:
    return urllib.parse.urlsplit(url).scheme.lower() == "file"


def _describe(error: BaseException, network: NetworkSettings) -> str:
    import socket
    import urllib.error

    timeout_s = network.read_timeout_s
    if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException):
        error, timeout_s = error.reason, network.connect_timeout_s  # failed while connecting
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return f"host name not found ({error.strerror or error})"
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if isinstance(error, FileNotFoundError):
        return f"no such file {error.filename or ''}".strip()
    text = str(error) or type(error).__name__
    return text if text.startswith(type(error).__name__) else f"{type(error).__name__}: {text}"


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) of ``bytes a-b/total`` or ``bytes */total``; None where absent."""
    if not header or not header.strip().lower().startswith("bytes"):
        return None, None
    spec = header.strip()[5:].strip()
    span, _, total = spec.partition("/")
    first = span.split("-", 1)[0].strip()
    return (
        int(first) if first.isdigit() else None,
        int(total) if total.strip().isdigit() else None,
    )


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


# What one request achieved: the whole file is there (its size was known and reached, or the
# server said nothing is left), the body ended without the server ever giving a size, or a
# request for the rest was answered with the whole file (the server cannot resume).
_Attempt = Literal["complete", "unconfirmed", "cannot_resume"]


def _fetch_once(
    opener,
    url: str,
    part: Path,
    network: NetworkSettings,
    label: str,
    expected_size: int | None,
    progress: bool,
    *,
    probe: bool = False,
    on_total: Callable[[int], None] | None = None,
) -> _Attempt:
    """One request: append to (or restart) ``part`` until the body ends. Raises on failure.

    ``probe`` asks only for what may follow the bytes already there: a server that answers with
    the whole file instead is not read again.
    """
    import http.client
    import urllib.error
    import urllib.request

    from tqdm import tqdm

    offset = _size(part)
    if expected_size is not None and offset > expected_size:
        log.warning(
            "%s: %s is larger than the expected %d bytes; starting over", label, part, expected_size
        )
        part.unlink()
        offset = 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = opener.open(request, timeout=network.connect_timeout_s)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and offset:
            _, total = _content_range(err.headers.get("Content-Range"))
            if total is None or total == offset:
                return "complete"  # nothing lies beyond the bytes already there
            part.unlink()
            raise _Transient(
                f"server refused to resume at byte {offset} (file is {total} bytes); starting over"
            ) from None
        if err.code >= 500 or err.code in _RETRY_STATUS:
            raise _Transient(f"HTTP {err.code} {err.reason}") from None
        raise DownloadError(
            f"HTTP {err.code} {err.reason} from {url} for {label}; the link may have moved. "
            f"{_MIRROR_HINT}"
        ) from None
    except urllib.error.URLError as err:
        raise _Unreachable(_describe(err, network)) from None
    except (http.client.HTTPException, OSError) as err:
        # connected, but the server hung up before answering
        raise _Transient(_describe(err, network)) from None

    with response:
        content_type = response.headers.get("Content-Type", "") or ""
        if content_type.split(";")[0].strip().lower() == "text/html":
            raise DownloadError(
                f"{url} answered with a web page (Content-Type: {content_type}), not the file "
                f"{label}; the link may have expired or need a login. {_MIRROR_HINT}"
            )
        length_header = response.headers.get("Content-Length")
        length = int(length_header) if length_header and length_header.isdigit() else None
        status = getattr(response, "status", None) or 200
        if status == 206:
            first, total = _content_range(response.headers.get("Content-Range"))
            if first != offset:
                part.unlink(missing_ok=True)
                raise _Transient(
                    f"server resumed at byte {first} instead of {offset}; starting over"
                )
            mode = "ab"
        else:
            if probe:
                return "cannot_resume"  # the whole file again: it cannot tell us what is missing
            # A 200 (or a file:// source) is the whole file: a server that ignores Range must not
            # be appended to what we already have.
            if offset:
                log.info("%s: the server does not resume downloads; starting from byte 0", label)
            offset, total, mode = 0, None, "wb"
        if total is None and length is not None:
            total = offset + length
        if expected_size is not None and total is not None and total != expected_size:
            raise DownloadError(
                f"{url} serves {total} bytes for {label}, but the download config expects "
                f"{expected_size}; it is a different file. Check the URL, or set its size to null."
            )
        if total is None:
            total = expected_size  # a known size tells a cut transfer from a finished one
        elif on_total is not None:
            on_total(total)
        written = offset
        with (
            open(part, mode) as sink,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1000,  # the same MB as `--list`
                desc=label,
                disable=not progress,
            ) as bar,
        ):
            try:
                while chunk := response.read1(network.chunk_bytes):
                    sink.write(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
            except (http.client.HTTPException, OSError) as err:
                raise _Transient(
                    f"connection dropped at byte {written}: {_describe(err, network)}"
                ) from None
            sink.flush()
            os.fsync(sink.fileno())
    if total is None:
        return "unconfirmed"
    if written < total:
        raise _Transient(f"connection closed at byte {written} of {total}")
    return "complete"


def fetch(
    url: str,
    destination: Path,
    network: NetworkSettings,
    *,
    label: str | None = None,
    expected_size: int | None = None,
    progress: bool = True,
    on_total: Callable[[int], None] | None = None,
) -> tuple[Path, bool]:
    """Download ``url`` into ``<destination>.part`` (resuming what is there).

    Returns the ``.part`` path and whether its end is confirmed. Dropped connections, timeouts
    and HTTP 5xx/429 are retried with exponential backoff, and any attempt that adds bytes
    resets the retry budget. A body that ends without the server ever giving a size may have
    been cut, so the rest is asked for with a Range request: more bytes continue the file, a 416
    confirms its end. Only a server that neither gives sizes nor resumes leaves the end
    unconfirmed. A host that cannot be reached on the first attempt fails at once with
    :class:`UnreachableError`. ``on_total`` hears the file's size when the server tells it.
    """
    label = label or destination.name
    part = part_path(destination)
    part.parent.mkdir(parents=True, exist_ok=True)
    opener = _opener(network)
    reached = False
    probe = False
    failures = 0
    while True:
        before = _size(part)
        try:
            attempt = _fetch_once(
                opener,
                url,
                part,
                network,
                label,
                expected_size,
                progress,
                probe=probe,
                on_total=on_total,
            )
        except _Unreachable as err:
            if not reached and _is_local(url):
                raise UnreachableError(
                    f"cannot read {url} for {label} ({err}); check the path given by --url or "
                    "in the download config"
                ) from None
            if not reached:
                raise UnreachableError(
                    f"cannot reach {url} for {label} ({err}). {_MIRROR_HINT}"
                ) from None
            reason = str(err)
        except _Transient as err:
            reached = True
            reason = str(err)
        else:
            reached = True
            if attempt == "complete":
                return part, True
            if attempt == "cannot_resume" or (probe and _size(part) == before):
                log.info(
                    "%s: the server gives no size and does not resume, so the end of the file "
                    "cannot be confirmed; validating what arrived",
                    label,
                )
                return part, False
            if probe:
                log.info("%s: the transfer had been cut; %d more bytes arrived", label, _size(part))
            probe = True  # the body ended with no size given: ask whether anything follows
            continue
        probe = False
        if _size(part) > before:
            failures = 0
        failures += 1
        if failures > network.retries:
            kept = f"; {part} is kept and the same command resumes it" if part.exists() else ""
            raise DownloadError(
                f"giving up on {url} for {label} after {network.retries} retries: {reason}{kept}. "
                f"{_MIRROR_HINT}"
            )
        delay = min(network.backoff_s * 2 ** (failures - 1), network.max_backoff_s)
        log.warning(
            "%s: %s; retry %d of %d in %.1f s", label, reason, failures, network.retries, delay
        )
        time.sleep(delay)


def part_path(destination: Path) -> Path:
    return destination.with_name(destination.name + ".part")


# ---------------------------------------------------------------------------------------------
# Validation


def validate(path: Path, check: str, size: int | None = None, wing: Path | None = None) -> None:
    """Raise :class:`InvalidFileError` unless ``path`` is a usable file of kind ``check``.

    ``wing`` is the landmark network an official checkpoint with the high-pass path needs to load.
    """
    if not path.is_file():
        raise InvalidFileError(f"{path} does not exist")
    found = path.stat().st_size
    if size is not None and found != size:
        raise InvalidFileError(f"{path} is {found} bytes, expected {size}")
    if check == "official":
        _check_official(path, wing)
    elif check == "wing":
        _check_wing(path)
    elif check == "lm_mean":
        _check_lm_mean(path)
    elif check == "zip":
        _check_zip(path)
    else:
        raise ConfigError(f"unknown check {check!r} for {path}; expected one of {CHECKS}")


def _check_official(path: Path, wing: Path | None) -> None:
    # Imported outside the guarded call: a broken mesynth install is not a bad file.
    from mesynth.checkpoint import load_official

    try:
        load_official(path, wing=wing)
    except Exception as err:  # any failure to load means the file is unusable; report which
        raise InvalidFileError(
            f"{path} does not load as an official StarGAN v2 checkpoint "
            f"({type(err).__name__}: {err})"
        ) from err


def _check_wing(path: Path) -> None:
    from mesynth.checkpoint import load_wing

    try:
        load_wing(path)
    except Exception as err:  # any failure to load means the file is unusable; report which
        raise InvalidFileError(
            f"{path} does not load as the landmark network (wing.ckpt) ({type(err).__name__}: {err})"
        ) from err


def _check_lm_mean(path: Path) -> None:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as arrays:
            names = list(arrays.files)
            mean = arrays["mean"] if "mean" in names else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise InvalidFileError(f"{path} is not a readable .npz file ({err})") from err
    if mean is None:
        raise InvalidFileError(
            f"{path} has no array 'mean' (found {names}); expected mean landmarks"
        )
    if mean.shape != LM_MEAN_SHAPE or not np.issubdtype(mean.dtype, np.number):
        raise InvalidFileError(
            f"{path}: 'mean' is {mean.dtype} of shape {mean.shape}, expected numbers of shape "
            f"{LM_MEAN_SHAPE}"
        )


def _check_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            bad_member = archive.testzip()
            count = len(archive.infolist())
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError) as err:
        raise InvalidFileError(f"{path} is not a readable zip archive ({err})") from err
    if bad_member is not None:
        raise InvalidFileError(f"{path}: member {bad_member!r} fails its CRC check")
    if count == 0:
        raise InvalidFileError(f"{path} is an empty zip archive")


class ValidationCache:
    """Validations that passed, remembered in ``<directory>/.mesynth-validated.json``.

    A record holds the file's size, mtime and inode, the same for each file its check read (the
    landmark network a high-pass checkpoint loads with), the check and the configured size; it
    counts only while every one of them is unchanged. A failed validation is never recorded, so
    an invalid file is checked again each time. The file also keeps the sizes servers announced,
    for ``--list``. A folder that cannot be written (a read-only shared drive) just goes without.
    """

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / CACHE_NAME

    def _read(self) -> dict:
        empty = {"version": CACHE_VERSION, "valid": {}, "sizes": {}}
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return empty
        except (OSError, ValueError) as err:
            log.warning("ignoring the unreadable validation cache %s (%s)", self.path, err)
            return empty
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            return empty
        for key in ("valid", "sizes"):
            if not isinstance(data.get(key), dict):
                data[key] = {}
        return data

    def _write(self, data: dict) -> None:
        text = json.dumps(data, indent=1, sort_keys=True)
        try:
            write_atomically(self.path, lambda partial: partial.write_text(text))
        except OSError as err:
            log.warning(
                "cannot write the validation cache %s (%s); files are validated again next time",
                self.path,
                err.strerror or err,
            )

    def is_valid(self, key: str, record: dict) -> bool:
        return self._read()["valid"].get(key) == record

    def remember_valid(self, key: str, record: dict) -> None:
        data = self._read()
        data["valid"][key] = record
        self._write(data)

    def size(self, key: str) -> int | None:
        size = self._read()["sizes"].get(key)
        return size if isinstance(size, int) else None

    def remember_size(self, key: str, size: int) -> None:
        data = self._read()
        if data["sizes"].get(key) != size:
            data["sizes"][key] = size
            self._write(data)


def _fingerprint(path: Path) -> list[int]:
    status = path.stat()
    return [status.st_size, status.st_mtime_ns, status.st_ino]


def _record(path: Path, spec: FileSpec, wing: Path | None) -> dict:
    return {
        "check": spec.check,
        "expected_size": spec.size,
        "file": _fingerprint(path),
        "wing": _fingerprint(wing) if wing is not None else None,
    }


def _validate_cached(
    path: Path, spec: FileSpec, wing: Path | None, cache: ValidationCache, key: str
) -> None:
    """:func:`validate`, skipped when the cache holds a pass for exactly these files."""
    record = _record(path, spec, wing)
    if cache.is_valid(key, record):
        return
    log.info("checking %s", path)
    validate(path, spec.check, spec.size, wing)
    if _record(path, spec, wing) == record:  # not changed while it was being read
        cache.remember_valid(key, record)


def _dataset_problem(folder: Path, spec: FileSpec) -> str | None:
    """Why ``folder`` is not this dataset, extracted (None when it is)."""
    if not folder.is_dir():
        return f"{folder} is not a folder"
    missing = [name for name in spec.contains if not (folder / name).is_dir()]
    if missing:
        return f"{folder} holds no {' or '.join(name + '/' for name in missing)}"
    return None


def _extract(archive_path: Path, spec: FileSpec, directory: Path, progress: bool) -> Path:
    """Unpack into a staging folder, then rename the dataset's folder into place."""
    from tqdm import tqdm

    assert spec.extracts_to is not None
    target = directory / spec.extracts_to
    root = spec.archive_root or spec.extracts_to
    staging = directory / f".{spec.extracts_to}.extracting"
    if staging.exists():  # left over from an interrupted extraction
        shutil.rmtree(staging)
    with zipfile.ZipFile(archive_path) as archive:
        members = archive.infolist()
        for member in tqdm(
            members, unit="file", desc=f"extract {spec.basename}", disable=not progress
        ):
            archive.extract(member, staging)
    produced = staging if root in (".", "") else staging / root
    problem = _dataset_problem(produced, spec)
    if problem is not None:
        found = sorted(p.name for p in staging.iterdir())
        shutil.rmtree(staging)
        inside = "the archive's top level" if produced == staging else f"its folder {root!r}"
        raise InvalidFileError(
            f"{spec.basename} does not hold the expected dataset: {inside} has no "
            f"{' and '.join(name + '/' for name in spec.contains)} (top level: {found}); the "
            "archive is not the expected dataset, or `archive_root`/`contains` in the download "
            "config is wrong"
        )
    if target.exists():  # a previous extraction (anything else was refused before fetching)
        shutil.rmtree(target)
    if produced == staging:
        staging.rename(target)
    else:
        produced.rename(target)
        shutil.rmtree(staging)
    return target


# ---------------------------------------------------------------------------------------------
# Entries


def entry_directory(entry: Entry, config: DownloadConfig) -> Path:
    return config.dirs[entry.dir]


def file_result(spec: FileSpec, directory: Path) -> Path:
    """Where a file ends up: the file itself, or for an archive the folder it extracts to."""
    if spec.check == "zip":
        assert spec.extracts_to is not None
        return directory / spec.extracts_to
    return directory / spec.path


def _obtain(
    entry: Entry,
    spec: FileSpec,
    directory: Path,
    url: str,
    network: NetworkSettings,
    *,
    force: bool,
    offline: tuple[str, str] | None,
    progress: bool,
    wing: Path | None,
    blocked_by: str | None,
    unreachable: set[str],
) -> Path:
    """Make one file present and valid; ``offline`` is (why, how to undo it) when offline.

    A host in ``unreachable`` failed earlier in this run and is not tried again."""
    final = directory / spec.path
    result = file_result(spec, directory)
    label = f"{entry.name}: {spec.basename}"
    cache = ValidationCache(directory)
    if spec.check == "zip" and result.exists():
        problem = _dataset_problem(result, spec)
        if problem is not None:  # e.g. the checkpoint folder afhq/ where the dataset afhq/ goes
            raise InvalidFileError(
                f"{label}: {result} is in the way: it is not the extracted dataset ({problem}). "
                "It is never deleted: move it away, or extract the dataset elsewhere with "
                "--data-dir DIR."
            )
        if not force:
            log.info("%s: already extracted in %s", label, result)
            return result
    if spec.check != "zip" and final.exists() and not force:
        if blocked_by is not None:
            raise DownloadError(
                f"{label}: {final} is there but cannot be checked without {blocked_by}, which "
                "could not be had (see above)"
            )
        try:
            _validate_cached(final, spec, wing, cache, spec.path)
        except InvalidFileError as err:
            # Never delete a file we did not just download: the user decides.
            raise InvalidFileError(
                f"{label}: the file already there is not valid: {err}. Pass --force to "
                "download it again (it is replaced only by a copy that validates)."
            ) from err
        log.info("%s: already present and valid: %s", label, final)
        return final
    if offline is not None and not _is_local(url):
        why, undo = offline
        get_it = (
            f"extract {spec.basename} there, pass --url with a local copy of it"
            if spec.check == "zip"
            else "copy the file there, pass --url with a local path"
        )
        raise OfflineError(
            f"{result} is missing ({label}); offline because of {why}, so it is not "
            f"downloaded from {url}. To get it: {get_it}, or {undo}."
        )
    if blocked_by is not None:
        raise DownloadError(
            f"{label}: not fetched: it cannot be checked without {blocked_by}, which could not "
            "be had (see above)"
        )
    host = None if _is_local(url) else urllib.parse.urlsplit(url).netloc
    if host is not None and host in unreachable:
        raise UnreachableError(f"{label}: not tried: {host} could not be reached (see above)")
    if force:
        part_path(final).unlink(missing_ok=True)
    try:
        part, confirmed = fetch(
            url,
            final,
            network,
            label=label,
            expected_size=spec.size,
            progress=progress,
            on_total=lambda total: cache.remember_size(spec.path, total),
        )
    except UnreachableError:
        if host is not None:
            unreachable.add(host)
        raise
    try:
        validate(part, spec.check, spec.size, wing)
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
    cache.remember_size(spec.path, part.stat().st_size)
    if spec.check == "zip":
        try:
            extracted = _extract(part, spec, directory, progress)
        except InvalidFileError as err:
            part.unlink()
            raise InvalidFileError(
                f"{label} from {url} was removed: {err}. Use --url with the right archive."
            ) from err
        part.unlink()
        log.info("%s: extracted to %s", label, extracted)
        return extracted
    os.replace(part, final)
    cache.remember_valid(spec.path, _record(final, spec, wing))
    log.info("%s: saved %s", label, final)
    return final


def resolve_urls(entry: Entry, url: str | Mapping[str, str] | None) -> dict[str, str]:
    """URL per file path: config values, replaced by ``url`` (one URL, or file name -> URL)."""
    urls = {spec.path: spec.url for spec in entry.files}
    if url is None:
        return urls
    if isinstance(url, str):
        if len(entry.files) != 1:
            names = ", ".join(spec.basename for spec in entry.files)
            raise ConfigError(
                f"--url {url} is ambiguous: {entry.name} has {len(entry.files)} files ({names}); "
                f"write --url FILE=URL, e.g. --url {entry.files[0].basename}=URL"
            )
        urls[entry.files[0].path] = url
        return urls
    for key, value in url.items():
        matches = [spec for spec in entry.files if key in (spec.basename, spec.path)]
        if not matches:
            names = ", ".join(spec.basename for spec in entry.files)
            raise ConfigError(f"--url names {key!r}, which is not a file of {entry.name} ({names})")
        urls[matches[0].path] = value
    return urls


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
    order = plan(names, config)
    is_offline = offline_requested(offline, config)
    offline_fix = _offline_fix(offline, config) if is_offline else None
    outcomes: list[Outcome] = []
    wing_of: dict[str, Path] = {}  # entry -> its valid landmark network file
    wing_lost: dict[str, str] = {}  # entry -> its landmark network file that could not be had
    unreachable: set[str] = set()  # hosts that could not be reached: not tried again
    for name in order:
        entry = config.entries[name]
        directory = config.dirs[entry.dir]
        overrides = url if url is not None and name == names[0] else None
        urls = {path: normalise_url(u) for path, u in resolve_urls(entry, overrides).items()}
        wing = next((wing_of[r] for r in entry.requires if r in wing_of), None)
        lost = next((wing_lost[r] for r in entry.requires if r in wing_lost), None)
        for spec in entry.files:
            label = f"{name}: {spec.basename}"
            try:
                path = _obtain(
                    entry,
                    spec,
                    directory,
                    urls[spec.path],
                    config.network,
                    force=force and name in names,
                    offline=offline_fix,
                    progress=progress,
                    wing=wing,
                    # only a high-pass checkpoint needs another file (wing) to be checked
                    blocked_by=lost if spec.check == "official" else None,
                    unreachable=unreachable,
                )
            except KeyboardInterrupt:
                part = part_path(directory / spec.path)
                kept = f" ({part} is kept)" if part.exists() else ""
                raise Interrupted(f"{label}: interrupted; the same command resumes{kept}") from None
            except DownloadError as err:
                error = err
            except OSError as err:  # the local side: a folder not writable, a full disk
                where = err.filename or directory
                error = DownloadError(
                    f"{label}: cannot write {where} ({err.strerror or err}); make room or choose "
                    "another folder with --dir / --data-dir, then run the same command again"
                )
                error.__cause__ = err
            else:
                outcomes.append(Outcome(name, spec, path))
                if spec.check == "wing":
                    wing_of[name] = path
                continue
            outcomes.append(Outcome(name, spec, None, error))
            if spec.check == "wing":
                wing_lost[name] = spec.basename
            if not keep_going:
                return outcomes
    return outcomes


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
        _report(err, "mesynth")
        return None


# ---------------------------------------------------------------------------------------------
# Listing


def _human(size: int) -> str:
    if size < 1000:
        return f"{size} bytes"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def file_state(
    entry: Entry, spec: FileSpec, config: DownloadConfig, wing: Path | None, needs: str | None
) -> tuple[str, bool]:
    """(what ``--list`` says about the file, whether it is present and valid).

    ``needs`` names the missing landmark network when the file cannot be checked without it.
    """
    directory = config.dirs[entry.dir]
    cache = ValidationCache(directory)
    final = directory / spec.path
    known = spec.size or cache.size(spec.path)
    if spec.check == "zip":
        result = file_result(spec, directory)
        if result.exists():
            problem = _dataset_problem(result, spec)
            if problem is not None:
                return f"in the way: {problem}; move it or use --data-dir", False
            archive = f" from a {_human(known)} archive" if known else ""
            return f"present, extracted{archive}", True
    elif final.exists():
        found = _human(final.stat().st_size)
        if needs is not None:
            return f"{found}, not checked: needs {needs}", False
        try:
            _validate_cached(final, spec, wing, cache, spec.path)
        except InvalidFileError as err:
            return f"INVALID ({found}): {err}; --force fetches it again", False
        return f"present, {found}", True
    part = part_path(final)
    if part.exists():
        of = f" of {_human(known)}" if known else ""
        return f"partial, {_human(part.stat().st_size)}{of} in {part.name}", False
    return f"missing, {_human(known) if known else 'size unknown'}", False


def _print_listing(config: DownloadConfig, names: Sequence[str] = ()) -> None:
    """Both folders, then each entry (``names``, or all) with the state of its files."""
    print(f"checkpoint folder: {config.dirs.get(CHECKPOINTS)}  (--dir)")
    print(f"dataset folder:    {config.dirs.get(DATA)}  (--data-dir)")
    states: dict[tuple[str, str], str] = {}
    wing_of: dict[str, Path] = {}
    missing_wing: dict[str, str] = {}
    shown = list(names) or list(config.entries)
    for name in plan(shown, config):  # requirements first: they check the rest
        entry = config.entries[name]
        directory = config.dirs[entry.dir]
        wing = next((wing_of[r] for r in entry.requires if r in wing_of), None)
        needs = next((missing_wing[r] for r in entry.requires if r in missing_wing), None)
        for spec in entry.files:
            text, present = file_state(
                entry, spec, config, wing, needs if spec.check == "official" else None
            )
            states[name, spec.path] = text
            if spec.check == "wing":
                if present:
                    wing_of[name] = directory / spec.path
                else:
                    missing_wing[name] = (
                        f"{directory / spec.path} ({text.split(',')[0].split(':')[0]})"
                    )
    for entry in (config.entries[name] for name in shown):
        print(f"\n{entry.name}: {entry.description}")
        for spec in entry.files:
            result = file_result(spec, config.dirs[entry.dir])
            print(f"  {result}  [{states[entry.name, spec.path]}]  <- {spec.url}")


# ---------------------------------------------------------------------------------------------
# Command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``download`` options, shared by ``mesynth download`` and ``python -m mesynth.download``."""
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="what to fetch: celeba-hq, afhq, wing, celeba-hq-dataset, afhq-dataset, "
        "afhq-v2-dataset (default: the config's `default`, i.e. what the demo needs)",
    )
    parser.add_argument(
        "--dir", help="checkpoint folder (default: dirs.checkpoints, ./checkpoints)"
    )
    parser.add_argument(
        "--data-dir", metavar="DIR", help="dataset folder (default: dirs.data, ./data)"
    )
    parser.add_argument(
        "--config", help=f"download config merged over conf/download.yaml (or {CONFIG_ENV})"
    )
    parser.add_argument(
        "--url",
        action="append",
        metavar="[FILE=]URL",
        help="fetch from this mirror, local path or file:// URL instead; FILE=URL picks one file "
        "of a multi-file entry (repeatable)",
    )
    parser.add_argument(
        "--force", action="store_true", help="fetch again even if a valid copy is present"
    )
    parser.add_argument(
        "--offline", action="store_true", help=f"never touch the network (same as {OFFLINE_ENV}=1)"
    )
    parser.add_argument(
        "--retries", type=int, help="retries after a dropped connection (config: network.retries)"
    )
    parser.add_argument(
        "--list",
        action="store_true",
        help="show each entry (the NAMEs given, or all): where its files go, whether they are "
        "present and valid, their sizes",
    )
    parser.add_argument(
        "--best-effort",
        action="store_true",
        help="on failure print one line and exit 0 (for callers that fall back)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _url_overrides(values: Sequence[str] | None, entry: Entry) -> str | dict[str, str] | None:
    if not values:
        return None
    per_file: dict[str, str] = {}
    single: list[str] = []
    known = {spec.basename for spec in entry.files} | {spec.path for spec in entry.files}
    for value in values:
        key, sep, rest = value.partition("=")
        if sep and key in known:
            per_file[key] = rest
        else:
            single.append(value)
    if single and (per_file or len(single) > 1):
        raise ConfigError(
            f"give either one --url URL or --url FILE=URL per file, not {list(values)}"
        )
    return single[0] if single else per_file


def _debug() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() in _TRUE


def _report(error: BaseException, prefix: str = "mesynth download") -> None:
    """One block on stderr: the message (it names the file and the fix); the traceback too
    with ``MESYNTH_DEBUG=1``."""
    if _debug():
        traceback.print_exception(error)
    print(f"{prefix}: {error}", file=sys.stderr)


def _check_folders(args: argparse.Namespace, names: list[str], config: DownloadConfig) -> None:
    """--dir and --data-dir each move one kind of file: refuse one that would move nothing."""
    kinds = {config.entries[name].dir for name in plan(names, config)}
    asked = " ".join(names)
    if args.dir is not None and CHECKPOINTS not in kinds:
        raise ConfigError(
            f"--dir sets the checkpoint folder, but `{asked}` fetches no checkpoint; datasets "
            f"go to the dataset folder: use --data-dir {args.dir}"
        )
    if getattr(args, "data_dir", None) is not None and DATA not in kinds:
        raise ConfigError(
            f"--data-dir sets the dataset folder, but `{asked}` fetches no dataset; "
            f"checkpoints go to the checkpoint folder: use --dir {args.data_dir}"
        )


def run_cli(args: argparse.Namespace) -> int:
    """Carry out a parsed ``download`` command; returns the exit status.

    0: done (or ``--best-effort``); 2: a file could not be had or the command/config is wrong
    (one block per problem on stderr, no traceback unless ``MESYNTH_DEBUG=1``); 130: Ctrl-C.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return _run(args)
    except KeyboardInterrupt as err:
        message = str(err) if isinstance(err, Interrupted) else ""
        if _debug():
            traceback.print_exc()
        print(
            f"mesynth download: {message or 'interrupted; the same command resumes'}",
            file=sys.stderr,
        )
        return INTERRUPTED_STATUS


def _run(args: argparse.Namespace) -> int:
    try:
        config = with_dirs(load_config(args.config), args.dir, getattr(args, "data_dir", None))
        unknown = [n for n in args.names if n not in config.entries]
        if unknown:
            raise ConfigError(f"unknown download {unknown}; available: {', '.join(config.entries)}")
        if args.list:
            _print_listing(config, list(dict.fromkeys(args.names)))
            return 0
        names = list(dict.fromkeys(args.names)) or list(config.default)
        if not names:
            raise ConfigError(f"nothing to fetch: name one of {', '.join(config.entries)}")
        _check_folders(args, names, config)
        if args.url and len(names) != 1:
            raise ConfigError("--url needs exactly one NAME")
        if args.retries is not None:
            if args.retries < 0:
                raise ConfigError(f"--retries must be >= 0, got {args.retries}")
            config = replace(config, network=replace(config.network, retries=args.retries))
        overrides = _url_overrides(args.url, config.entries[names[0]])
        for url in resolve_urls(config.entries[names[0]], overrides).values():
            normalise_url(url)
        outcomes = download_all(
            names,
            config,
            url=overrides,
            force=args.force,
            offline=True if args.offline else None,
            progress=not args.no_progress,
            keep_going=not args.best_effort,
        )
    except ConfigError as err:
        _report(err)
        return USAGE_STATUS
    failed = 0
    for outcome in outcomes:
        if outcome.error is None:
            print(outcome.path)
        else:
            _report(outcome.error)
            failed += 1
    if failed and not args.best_effort:
        return USAGE_STATUS
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mesynth.download``: same options as ``mesynth download``."""
    parser = argparse.ArgumentParser(
        prog="python -m mesynth.download",
        description="Fetch pretrained StarGAN v2 files and datasets (see conf/download.yaml).",
    )
    add_arguments(parser)
    return run_cli(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
