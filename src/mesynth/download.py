"""Fetch the pretrained StarGAN v2 files and the datasets named in ``conf/download.yaml``.

``mesynth download NAME`` (also ``python -m mesynth.download NAME``) streams each file to
``<file>.part`` with a progress bar, resumes an interrupted ``.part`` with an HTTP Range request,
retries dropped connections and server errors with exponential backoff, and validates the finished
file (a checkpoint must load, an archive must pass its CRC checks) before renaming it into place.
A file that fails validation is removed and the error says why. Files already present and valid
are not fetched again. ``MESYNTH_OFFLINE=1`` skips every network attempt.

HTTP goes through the standard library only (``urllib``).
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import shutil
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from mesynth import __version__

log = logging.getLogger(__name__)

CONFIG_ENV = "MESYNTH_DOWNLOAD_CONFIG"
CONF_DIR_ENV = "MESYNTH_CONF_DIR"
OFFLINE_ENV = "MESYNTH_OFFLINE"
CHECKS = ("official", "wing", "lm_mean", "zip")
# celeba_lm_mean.npz holds the mean of the landmark network's 98 points (x, y).
LM_MEAN_SHAPE = (98, 2)
USER_AGENT = f"mesynth/{__version__} (python-urllib)"
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


class _Transient(Exception):
    """A failure worth retrying (dropped connection, timeout, HTTP 5xx)."""


class _Unreachable(Exception):
    """Connecting failed; fatal unless the host answered earlier in the same download."""


@dataclass(frozen=True)
class FileSpec:
    """One file of an entry: where it goes (relative to the entry's directory) and its source."""

    path: str
    url: str
    check: str
    size: int | None = None
    extracts_to: str | None = None

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


# ---------------------------------------------------------------------------------------------
# Config


def default_config_path() -> Path:
    """``$MESYNTH_CONF_DIR/download.yaml`` or the checkout's ``conf/download.yaml``."""
    conf_dir = os.environ.get(CONF_DIR_ENV)
    base = Path(conf_dir) if conf_dir else Path(__file__).resolve().parents[2] / "conf"
    return base / "download.yaml"


def load_config(path: str | Path | None = None) -> DownloadConfig:
    """Read the download config.

    The repository's ``conf/download.yaml`` is the base; ``path`` (or ``$MESYNTH_DOWNLOAD_CONFIG``)
    is merged over it, so a mirror config only needs the entries it changes.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException
    from yaml import YAMLError

    base_path = default_config_path()
    user_value = path if path is not None else os.environ.get(CONFIG_ENV) or None
    layers = []
    sources = []
    if base_path.is_file():
        sources.append(base_path)
    if user_value is not None:
        user_path = Path(user_value).expanduser()
        if not user_path.is_file():
            raise ConfigError(
                f"download config {user_path} not found (given by --config or {CONFIG_ENV}); "
                f"point it at a YAML file shaped like {base_path}."
            )
        sources.append(user_path)
    if not sources:
        raise ConfigError(
            f"no download config: {base_path} is missing. Pass --config PATH or set {CONFIG_ENV}."
        )
    try:
        for source in sources:
            layers.append(OmegaConf.load(source))
        raw = OmegaConf.to_container(OmegaConf.merge(*layers), resolve=True)
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
        files = []
        for index, item in enumerate(need(body, "files", where) or []):
            item_where = f"{where}files[{index}]."
            check = str(need(item, "check", item_where))
            if check not in CHECKS:
                raise ConfigError(
                    f"{source}: {item_where}check is {check!r}; expected one of {CHECKS}"
                )
            size = item.get("size")
            extracts_to = item.get("extracts_to")
            if check == "zip" and not extracts_to:
                raise ConfigError(
                    f"{source}: {item_where}extracts_to is missing; a zip entry must name the "
                    "folder its archive creates"
                )
            files.append(
                FileSpec(
                    path=str(need(item, "path", item_where)),
                    url=str(need(item, "url", item_where)),
                    check=check,
                    size=None if size is None else int(size),
                    extracts_to=None if extracts_to is None else str(extracts_to),
                )
            )
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


def _offline_reason(offline: bool | None) -> str:
    if offline:
        return "--offline"
    env = os.environ.get(OFFLINE_ENV)
    if env is not None and env.strip():
        return f"{OFFLINE_ENV}={env}"
    return "offline: true in the download config"


# ---------------------------------------------------------------------------------------------
# HTTP


def _with_read_timeout(connection_class: type, read_timeout: float) -> type:
    # urllib has one timeout for everything; a short one for connecting lets an unreachable host
    # fail fast, while a longer one between reads tolerates a slow server.
    class TimedConnection(connection_class):
        def connect(self) -> None:
            super().connect()
            self.sock.settimeout(read_timeout)

    return TimedConnection


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, read_timeout: float) -> None:
        super().__init__()
        self.read_timeout = read_timeout

    def do_open(self, http_class: type, req: urllib.request.Request, **kwargs: object):
        return super().do_open(_with_read_timeout(http_class, self.read_timeout), req, **kwargs)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, read_timeout: float) -> None:
        super().__init__()
        self.read_timeout = read_timeout

    def do_open(self, http_class: type, req: urllib.request.Request, **kwargs: object):
        return super().do_open(_with_read_timeout(http_class, self.read_timeout), req, **kwargs)


def _opener(network: NetworkSettings) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(
        _HTTPHandler(network.read_timeout_s), _HTTPSHandler(network.read_timeout_s)
    )


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


def _fetch_once(
    opener: urllib.request.OpenerDirector,
    url: str,
    part: Path,
    network: NetworkSettings,
    label: str,
    expected_size: int | None,
    progress: bool,
) -> None:
    """One request: append to (or restart) ``part`` until the body ends. Raises on failure."""
    offset = part.stat().st_size if part.exists() else 0
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
            if total == offset:
                return  # the partial file was already complete
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
        if response.status == 206:
            first, total = _content_range(response.headers.get("Content-Range"))
            if first != offset:
                part.unlink(missing_ok=True)
                raise _Transient(
                    f"server resumed at byte {first} instead of {offset}; starting over"
                )
            mode = "ab"
        else:
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
        written = offset
        with (
            open(part, mode) as sink,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
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
    if total is not None and written < total:
        raise _Transient(f"connection closed at byte {written} of {total}")


def fetch(
    url: str,
    destination: Path,
    network: NetworkSettings,
    *,
    label: str | None = None,
    expected_size: int | None = None,
    progress: bool = True,
) -> Path:
    """Download ``url`` into ``<destination>.part`` (resuming what is there); return that path.

    Dropped connections, timeouts and HTTP 5xx/429 are retried with exponential backoff, and any
    attempt that adds bytes resets the retry budget. A host that cannot be reached on the first
    attempt fails at once with :class:`UnreachableError`.
    """
    label = label or destination.name
    part = part_path(destination)
    part.parent.mkdir(parents=True, exist_ok=True)
    opener = _opener(network)
    reached = False
    failures = 0
    while True:
        before = part.stat().st_size if part.exists() else 0
        try:
            _fetch_once(opener, url, part, network, label, expected_size, progress)
            return part
        except _Unreachable as err:
            if not reached:
                raise UnreachableError(
                    f"cannot reach {url} for {label} ({err}). {_MIRROR_HINT}"
                ) from None
            reason = str(err)
        except _Transient as err:
            reached = True
            reason = str(err)
        if (part.stat().st_size if part.exists() else 0) > before:
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


def _extract(archive_path: Path, spec: FileSpec, directory: Path, progress: bool) -> Path:
    """Unpack into a staging folder, then rename the archive's top folder into place."""
    assert spec.extracts_to is not None
    target = directory / spec.extracts_to
    staging = directory / f".{spec.extracts_to}.extracting"
    if staging.exists():  # left over from an interrupted extraction
        shutil.rmtree(staging)
    with zipfile.ZipFile(archive_path) as archive:
        members = archive.infolist()
        for member in tqdm(
            members, unit="file", desc=f"extract {spec.basename}", disable=not progress
        ):
            archive.extract(member, staging)
    produced = staging / spec.extracts_to
    if not produced.is_dir():
        found = sorted(p.name for p in staging.iterdir())
        shutil.rmtree(staging)
        raise InvalidFileError(
            f"{spec.basename} does not contain the folder {spec.extracts_to!r} (found {found}); "
            "the archive is not the expected dataset, or `extracts_to` in the download config is wrong"
        )
    if target.exists():  # only reached with force=True
        shutil.rmtree(target)
    produced.rename(target)
    shutil.rmtree(staging)
    return target


# ---------------------------------------------------------------------------------------------
# Entries


def entry_directory(entry: Entry, config: DownloadConfig, directory: str | Path | None) -> Path:
    return Path(directory) if directory is not None else config.dirs[entry.dir]


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
    offline: bool,
    offline_reason: str,
    progress: bool,
    wing: Path | None,
) -> Path:
    final = directory / spec.path
    result = file_result(spec, directory)
    label = f"{entry.name}: {spec.basename}"
    if not force:
        if spec.check == "zip" and result.is_dir():
            log.info("%s: already extracted in %s", label, result)
            return result
        if spec.check != "zip" and final.exists():
            try:
                validate(final, spec.check, spec.size, wing)
            except InvalidFileError as err:
                # Never delete a file we did not just download: the user decides.
                raise InvalidFileError(
                    f"{label}: the file already there is not valid: {err}. Pass --force to "
                    "download it again (it is replaced only by a copy that validates)."
                ) from err
            log.info("%s: already present and valid: %s", label, final)
            return final
    if offline and not _is_local(url):
        raise OfflineError(
            f"offline ({offline_reason}): not downloading {label} from {url}; {result} is missing. "
            f"Copy the file there, pass --url with a local path, or unset {OFFLINE_ENV}."
        )
    if force:
        part_path(final).unlink(missing_ok=True)
    part = fetch(url, final, network, label=label, expected_size=spec.size, progress=progress)
    try:
        validate(part, spec.check, spec.size, wing)
    except InvalidFileError as err:
        part.unlink()
        raise InvalidFileError(
            f"{label} from {url} is invalid and was removed: {err}. Run again to retry, or use "
            "--url with a mirror."
        ) from err
    if spec.check == "zip":
        extracted = _extract(part, spec, directory, progress)
        part.unlink()
        log.info("%s: extracted to %s", label, extracted)
        return extracted
    os.replace(part, final)
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


def download(
    name: str,
    directory: str | Path | None = None,
    *,
    config: DownloadConfig | None = None,
    url: str | Mapping[str, str] | None = None,
    force: bool = False,
    offline: bool | None = None,
    progress: bool = True,
) -> list[Path]:
    """Make every file of entry ``name`` present and valid; return their paths.

    ``directory`` replaces the entry's configured directory; ``url`` overrides the source (one
    URL for a one-file entry, or a mapping file name -> URL); ``force`` fetches again even when a
    valid copy is present. Raises :class:`DownloadError` (or a subclass) when a file cannot be
    obtained.
    """
    config = config or load_config()
    if name not in config.entries:
        raise ConfigError(f"unknown download {name!r}; available: {', '.join(config.entries)}")
    entry = config.entries[name]
    target = entry_directory(entry, config, directory)
    urls = {path: normalise_url(u) for path, u in resolve_urls(entry, url).items()}
    is_offline = offline_requested(offline, config)
    reason = _offline_reason(offline) if is_offline else ""
    wing = None
    for required in (config.entries[n] for n in entry.requires):
        # A --dir override applies to the files that live beside this entry's.
        same_place = directory if required.dir == entry.dir else None
        log.info("%s needs %s; making sure it is present first", name, required.name)
        paths = download(
            required.name, same_place, config=config, offline=offline, progress=progress
        )
        for spec, path in zip(required.files, paths, strict=True):
            if spec.check == "wing":
                wing = path
    return [
        _obtain(
            entry,
            spec,
            target,
            urls[spec.path],
            config.network,
            force=force,
            offline=is_offline,
            offline_reason=reason,
            progress=progress,
            wing=wing,
        )
        for spec in entry.files
    ]


def ensure_weights(
    name: str, directory: str | Path | None = None, offline: bool | None = None
) -> Path | None:
    """Path of entry ``name``'s first file, downloading it if needed.

    Returns None after printing one line to stderr when it cannot be had (offline, host
    unreachable, invalid download); the caller then decides what to run instead.
    """
    try:
        return download(name, directory, offline=offline)[0]
    except (DownloadError, ConfigError) as err:
        print(f"mesynth: {err}", file=sys.stderr)
        return None


# ---------------------------------------------------------------------------------------------
# Command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``download`` options, shared by ``mesynth download`` and ``python -m mesynth.download``."""
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="what to fetch: celeba-hq, afhq, wing, celeba-hq-dataset, afhq-dataset "
        "(default: the config's `default`, i.e. what the demo needs)",
    )
    parser.add_argument("--dir", help="put the files here instead of the configured directory")
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
        "--list", action="store_true", help="show every entry, its files and whether present"
    )
    parser.add_argument(
        "--best-effort",
        action="store_true",
        help="on failure print one line and exit 0 (for `make demo`, which falls back)",
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


def _print_listing(config: DownloadConfig, directory: str | Path | None) -> None:
    for entry in config.entries.values():
        print(f"{entry.name}: {entry.description}")
        for spec in entry.files:
            result = file_result(spec, entry_directory(entry, config, directory))
            part = part_path(entry_directory(entry, config, directory) / spec.path)
            if result.exists():
                state = "present"
            elif part.exists():
                state = f"partial ({part.stat().st_size} bytes in {part.name})"
            else:
                state = "missing"
            size = f"{spec.size} bytes" if spec.size is not None else "size not recorded"
            print(f"  {result}  [{size}; {state}]  <- {spec.url}")


def run_cli(args: argparse.Namespace) -> int:
    """Carry out a parsed ``download`` command; returns the exit status."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        config = load_config(args.config)
        if args.list:
            _print_listing(config, args.dir)
            return 0
        names = list(args.names) or list(config.default)
        if not names:
            raise ConfigError(f"nothing to fetch: name one of {', '.join(config.entries)}")
        unknown = [n for n in names if n not in config.entries]
        if unknown:
            raise ConfigError(f"unknown download {unknown}; available: {', '.join(config.entries)}")
        if args.url and len(names) != 1:
            raise ConfigError("--url needs exactly one NAME")
        if args.retries is not None:
            if args.retries < 0:
                raise ConfigError(f"--retries must be >= 0, got {args.retries}")
            config = replace(config, network=replace(config.network, retries=args.retries))
        overrides = _url_overrides(args.url, config.entries[names[0]])
        for url in resolve_urls(config.entries[names[0]], overrides).values():
            normalise_url(url)
    except ConfigError as err:
        print(f"mesynth download: error: {err}", file=sys.stderr)
        return 2

    failed = 0
    for name in names:
        try:
            paths = download(
                name,
                args.dir,
                config=config,
                url=overrides,
                force=args.force,
                offline=True if args.offline else None,
                progress=not args.no_progress,
            )
        except (DownloadError, ConfigError) as err:
            print(f"mesynth download: {err}", file=sys.stderr)
            failed += 1
            if args.best_effort:
                break  # one line is enough; the caller falls back
            continue
        for path in paths:
            print(path)
    if failed and args.best_effort:
        return 0
    return 1 if failed else 0


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
