"""Is a file what it claims to be: its size and sha256 digest where known, one load check per
kind, and a cache of the checks that passed."""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
import zlib
from pathlib import Path

from mesynth.atomic import write_atomically
from mesynth.download.errors import ConfigError, InvalidFileError
from mesynth.download.sources import CHECKS, FileSpec

log = logging.getLogger(__name__)

CACHE_NAME = ".mesynth-validated.json"
CACHE_VERSION = 1
# celeba_lm_mean.npz holds the mean of the landmark network's 98 points (x, y).
LM_MEAN_SHAPE = (98, 2)
_HASH_CHUNK = 1 << 20


def validate(
    path: Path,
    check: str,
    size: int | None = None,
    wing: Path | None = None,
    sha256: str | None = None,
) -> None:
    """Raise :class:`InvalidFileError` unless ``path`` is a usable file of kind ``check``.

    ``size`` and ``sha256`` are checked when given. ``wing`` is the landmark network an official
    checkpoint with the high-pass path needs to load.
    """
    if not path.is_file():
        raise InvalidFileError(f"{path} does not exist")
    found = path.stat().st_size
    if size is not None and found != size:
        raise InvalidFileError(f"{path} is {found} bytes, expected {size}")
    if sha256 is not None:
        digest = file_sha256(path)
        if digest != sha256:
            raise InvalidFileError(
                f"{path} has sha256 {digest}, expected {sha256} (the digest in the download "
                "config): it is a damaged or different file"
            )
    if check == "official":
        _check_official(path, wing)
    elif check == "wing":
        _check_wing(path)
    elif check == "lm_mean":
        _check_lm_mean(path)
    elif check == "zip":
        _check_zip(path)
    elif check == "softnet":
        _check_softnet(path)
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


def file_sha256(path: Path) -> str:
    """The sha256 digest of ``path``, in hexadecimal."""
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_softnet(path: Path) -> None:
    # Imported outside the guarded call: a broken mesynth install is not a bad file.
    from mesynth.spotting.softnet import load_released

    try:
        load_released(path)
    except Exception as err:  # any failure to load means the file is unusable; report which
        raise InvalidFileError(
            f"{path} does not load as a released SOFTNet model ({type(err).__name__}: {err})"
        ) from err


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


def record(path: Path, spec: FileSpec, wing: Path | None) -> dict:
    """What a cached pass of ``spec``'s check on ``path`` is valid for."""
    return {
        "check": spec.check,
        "expected_size": spec.size,
        "sha256": spec.sha256,
        "file": _fingerprint(path),
        "wing": _fingerprint(wing) if wing is not None else None,
    }


def validate_cached(
    path: Path, spec: FileSpec, wing: Path | None, cache: ValidationCache, key: str
) -> None:
    """:func:`validate`, skipped when the cache holds a pass for exactly these files."""
    before = record(path, spec, wing)
    if cache.is_valid(key, before):
        return
    log.info("checking %s", path)
    validate(path, spec.check, spec.size, wing, spec.sha256)
    if record(path, spec, wing) == before:  # not changed while it was being read
        cache.remember_valid(key, before)
