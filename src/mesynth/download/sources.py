"""The download config: what ``mesynth download NAME`` fetches, from where, into which folder.

``conf/download.yaml`` is the base; a user's ``--config`` file (or ``$MESYNTH_DOWNLOAD_CONFIG``)
is merged over it, so a mirror config only needs the entries it changes.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from mesynth.config import conf_dir, to_plain
from mesynth.download.errors import ConfigError

CONFIG_ENV = "MESYNTH_DOWNLOAD_CONFIG"
OFFLINE_ENV = "MESYNTH_OFFLINE"
CHECKS = ("official", "wing", "lm_mean", "zip", "softnet")
_HEX = set("0123456789abcdef")
# The two `dirs` of the config that the command line can move: --dir and --data-dir.
CHECKPOINTS = "checkpoints"
DATA = "data"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_NETWORK_FLOATS = ("connect_timeout_s", "read_timeout_s", "backoff_s", "max_backoff_s")


@dataclass(frozen=True)
class FileSpec:
    """One file of an entry: where it goes (relative to the entry's directory) and its source.

    An archive (``check: zip``) is extracted into ``extracts_to``: the archive's folder
    ``archive_root`` (default: ``extracts_to``; ``.`` for an archive with no top folder) becomes
    that folder, which must then hold the sub-folders ``contains``. ``sha256`` is the file's
    digest when it is known (None: not checked). ``source`` is the file's path below its entry's
    ``base_url`` when its URL was made from that base (so another base can replace it).
    """

    path: str
    url: str
    check: str
    size: int | None = None
    sha256: str | None = None
    source: str | None = None
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
    base_url: str | None = None


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


def load_config(path: str | Path | None = None) -> DownloadConfig:
    """Read the download config.

    The repository's ``conf/download.yaml`` (found by :func:`mesynth.config.conf_dir`) is the
    base; ``path`` (or ``$MESYNTH_DOWNLOAD_CONFIG``) is merged over it, so a mirror config only
    needs the entries it changes.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException
    from yaml import YAMLError

    sources = _config_files(path)
    try:
        layers = [OmegaConf.load(source) for source in sources]
        raw = to_plain(OmegaConf.merge(*layers))
    except (OSError, YAMLError, OmegaConfBaseException) as err:
        raise ConfigError(
            f"cannot read download config {', '.join(map(str, sources))}: {err}"
        ) from err
    return _parse_config(raw, " + ".join(str(s) for s in sources))


def _config_files(path: str | Path | None) -> list[Path]:
    """The base config (when there is a checkout) and the user's, in merge order."""
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
    return sources


class _Reader:
    """Looks keys up in the raw config and names the missing one with its place."""

    def __init__(self, source: str) -> None:
        self.source = source

    def need(self, mapping: object, key: str, where: str) -> object:
        if not isinstance(mapping, Mapping) or key not in mapping:
            raise ConfigError(f"{self.source}: `{where}{key}` is missing")
        return mapping[key]


def _parse_config(raw: object, source: str) -> DownloadConfig:
    reader = _Reader(source)
    dirs = {str(k): Path(str(v)) for k, v in dict(reader.need(raw, "dirs", "")).items()}
    network = _parse_network(reader.need(raw, "network", ""), reader)
    entries = {
        str(name): _parse_entry(str(name), body, dirs, reader)
        for name, body in dict(reader.need(raw, "entries", "")).items()
    }
    _check_requirements(entries, source)
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


def _parse_network(net: object, reader: _Reader) -> NetworkSettings:
    try:
        values: dict[str, float | int] = {
            key: float(reader.need(net, key, "network.")) for key in _NETWORK_FLOATS
        }
        for key in ("retries", "chunk_bytes"):
            values[key] = int(reader.need(net, key, "network."))
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{reader.source}: `network` holds a non-number: {err}") from err
    network = NetworkSettings(**values)
    if network.retries < 0 or network.chunk_bytes <= 0:
        raise ConfigError(f"{reader.source}: network.retries must be >= 0 and chunk_bytes > 0")
    return network


def _parse_entry(name: str, body: object, dirs: Mapping[str, Path], reader: _Reader) -> Entry:
    where = f"entries.{name}."
    dir_key = str(reader.need(body, "dir", where))
    if dir_key not in dirs:
        raise ConfigError(
            f"{reader.source}: {where}dir is {dir_key!r}; expected one of {sorted(dirs)}"
        )
    layout = _Layout.of(body, where, reader)
    files = [
        _parse_file(layout.fill(item), f"{where}files[{index}].", reader, layout)
        for index, item in enumerate(reader.need(body, "files", where) or [])
    ]
    if not files:
        raise ConfigError(f"{reader.source}: {where}files is empty")
    return Entry(
        name=name,
        description=str(body.get("description", "")),
        dir=dir_key,
        files=tuple(files),
        requires=tuple(str(n) for n in (body.get("requires") or [])),
        base_url=layout.base_url,
    )


@dataclass(frozen=True)
class _Layout:
    """An entry's shared file settings: ``defaults`` for every file, the ``folder`` their paths
    are in, and the ``base_url`` a file without its own ``url`` comes from (plus its path)."""

    defaults: Mapping[str, object]
    folder: str | None
    base_url: str | None

    @classmethod
    def of(cls, body: object, where: str, reader: _Reader) -> _Layout:
        defaults = body.get("defaults") or {}
        if not isinstance(defaults, Mapping):
            raise ConfigError(
                f"{reader.source}: {where}defaults is {defaults!r}; expected a mapping of file "
                "settings (e.g. {size: 1288792, check: softnet})"
            )
        folder, base_url = body.get("folder"), body.get("base_url")
        return cls(
            defaults,
            None if folder is None else str(folder).strip("/"),
            None if base_url is None else str(base_url),
        )

    def fill(self, item: object) -> object:
        return {**self.defaults, **item} if isinstance(item, Mapping) else item

    def place(self, path: str) -> str:
        return path if self.folder is None else f"{self.folder}/{path}"


def _check_requirements(entries: Mapping[str, Entry], source: str) -> None:
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


def _parse_file(item: object, where: str, reader: _Reader, layout: _Layout) -> FileSpec:
    source = reader.source
    check = str(reader.need(item, "check", where))
    if check not in CHECKS:
        raise ConfigError(f"{source}: {where}check is {check!r}; expected one of {CHECKS}")
    size = item.get("size")
    extracts_to = item.get("extracts_to")
    archive_root = item.get("archive_root")
    contains = item.get("contains") or []
    if check == "zip":
        _check_archive_keys(extracts_to, contains, where, source)
    try:
        size = None if size is None else int(size)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: {where}size is {size!r}; expected bytes or null") from None
    path = str(reader.need(item, "path", where))
    relative = None
    if item.get("url") is None and layout.base_url is not None:
        relative, url = path, join_url(layout.base_url, path)
    else:
        url = str(reader.need(item, "url", where))
    return FileSpec(
        path=layout.place(path),
        url=url,
        check=check,
        size=size,
        sha256=_parse_sha256(item.get("sha256"), where, source),
        source=relative,
        extracts_to=None if extracts_to is None else str(extracts_to),
        archive_root=None if archive_root is None else str(archive_root),
        contains=tuple(str(c) for c in contains),
    )


def _parse_sha256(value: object, where: str, source: str) -> str | None:
    if value is None:
        return None
    digest = str(value).strip().lower()
    if len(digest) != 64 or not set(digest) <= _HEX:
        raise ConfigError(
            f"{source}: {where}sha256 is {value!r}; expected 64 hexadecimal digits or null"
        )
    return digest


def _check_archive_keys(extracts_to: object, contains: object, where: str, source: str) -> None:
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


def offline_fix(offline: bool | None, config: DownloadConfig) -> tuple[str, str]:
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


def resolve_urls(entry: Entry, url: str | Mapping[str, str] | None) -> dict[str, str]:
    """URL per file path: config values, replaced by ``url`` (one URL, or file name -> URL).

    For an entry of several files with a ``base_url``, one ``url`` replaces that base: each file
    then comes from its path below it (a mirror or a local copy of the whole folder).
    """
    urls = {spec.path: spec.url for spec in entry.files}
    if url is None:
        return urls
    if isinstance(url, str):
        if len(entry.files) != 1 and entry.base_url is not None:
            # a mirror of the whole folder: each file at its own path below it
            for spec in entry.files:
                if spec.source is not None:
                    urls[spec.path] = join_url(url, spec.source)
            return urls
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


def join_url(base: str, path: str) -> str:
    """``path`` below ``base`` (a URL or a local folder)."""
    return f"{base.rstrip('/')}/{path.lstrip('/')}"


def normalise_url(value: str) -> str:
    """Accept http(s) and file URLs; turn a plain local path into a file:// URL."""
    scheme = urllib.parse.urlsplit(value).scheme.lower()
    if scheme in ("http", "https", "file"):
        return value
    if scheme == "" or len(scheme) == 1:  # a path (a one-letter scheme is a Windows drive)
        return Path(value).expanduser().resolve().as_uri()
    raise ConfigError(f"unsupported URL {value!r}: use http://, https://, file:// or a local path")


def is_local(url: str) -> bool:
    return urllib.parse.urlsplit(url).scheme.lower() == "file"


def file_result(spec: FileSpec, directory: Path) -> Path:
    """Where a file ends up: the file itself, or for an archive the folder it extracts to."""
    if spec.check == "zip":
        assert spec.extracts_to is not None
        return directory / spec.extracts_to
    return directory / spec.path
