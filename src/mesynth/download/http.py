"""One HTTP function, :func:`fetch`: stream a URL into ``<file>.part``, resume, retry.

urllib, http.client and tqdm are imported on the first transfer, not at start-up, so that
``mesynth download --list`` stays quick.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mesynth import __version__
from mesynth.download.errors import DownloadError, UnreachableError
from mesynth.download.sources import OFFLINE_ENV, NetworkSettings, is_local

log = logging.getLogger(__name__)

USER_AGENT = f"mesynth/{__version__} (python-urllib)"
_RETRY_STATUS = {408, 425, 429}
MIRROR_HINT = (
    "Use a mirror with --url URL (a local path or file:// URL on a shared drive works too), "
    f"or set {OFFLINE_ENV}=1 to skip downloads."
)

# What one request achieved: the whole file is there (its size was known and reached, or the
# server said nothing is left), the body ended without the server ever giving a size, or a
# request for the rest was answered with the whole file (the server cannot resume).
_Attempt = Literal["complete", "unconfirmed", "cannot_resume"]


class _Transient(Exception):
    """A failure worth retrying (dropped connection, timeout, HTTP 5xx)."""


class _Unreachable(Exception):
    """Connecting failed; fatal unless the host answered earlier in the same download."""


@dataclass(frozen=True)
class _Request:
    """What every attempt at one file shares."""

    url: str
    part: Path
    network: NetworkSettings
    label: str
    expected_size: int | None
    progress: bool
    on_total: Callable[[int], None] | None


def part_path(destination: Path) -> Path:
    return destination.with_name(destination.name + ".part")


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
    job = _Request(url, part_path(destination), network, label, expected_size, progress, on_total)
    job.part.parent.mkdir(parents=True, exist_ok=True)
    opener = _opener(network)
    reached = probe = False
    failures = 0
    while True:
        before = _size(job.part)
        try:
            attempt = _fetch_once(opener, job, probe=probe)
        except _Unreachable as err:
            if not reached:
                raise _unreachable_error(job, err) from None
            reason = str(err)
        except _Transient as err:
            reached, reason = True, str(err)
        else:
            reached = True
            if attempt == "complete":
                return job.part, True
            if _end_cannot_be_confirmed(job, attempt, probe, before):
                return job.part, False
            probe = True  # the body ended with no size given: ask whether anything follows
            continue
        probe = False
        failures = 1 if _size(job.part) > before else failures + 1
        _wait_before_retry(job, reason, failures)


def _unreachable_error(job: _Request, err: _Unreachable) -> UnreachableError:
    if is_local(job.url):
        return UnreachableError(
            f"cannot read {job.url} for {job.label} ({err}); check the path given by --url or "
            "in the download config"
        )
    return UnreachableError(f"cannot reach {job.url} for {job.label} ({err}). {MIRROR_HINT}")


def _end_cannot_be_confirmed(job: _Request, attempt: _Attempt, probe: bool, before: int) -> bool:
    """After a body with no size: whether asking for more has shown all there is to learn."""
    if attempt == "cannot_resume" or (probe and _size(job.part) == before):
        log.info(
            "%s: the server gives no size and does not resume, so the end of the file "
            "cannot be confirmed; validating what arrived",
            job.label,
        )
        return True
    if probe:
        log.info("%s: the transfer had been cut; %d more bytes arrived", job.label, _size(job.part))
    return False


def _wait_before_retry(job: _Request, reason: str, failures: int) -> None:
    """Sleep the backoff for the ``failures``-th failure in a row, or give up past the budget."""
    network = job.network
    if failures > network.retries:
        part = job.part
        kept = f"; {part} is kept and the same command resumes it" if part.exists() else ""
        raise DownloadError(
            f"giving up on {job.url} for {job.label} after {network.retries} retries: "
            f"{reason}{kept}. {MIRROR_HINT}"
        )
    delay = min(network.backoff_s * 2 ** (failures - 1), network.max_backoff_s)
    log.warning(
        "%s: %s; retry %d of %d in %.1f s", job.label, reason, failures, network.retries, delay
    )
    time.sleep(delay)


def _fetch_once(opener, job: _Request, *, probe: bool = False) -> _Attempt:
    """One request: append to (or restart) the ``.part`` until the body ends. Raises on failure.

    ``probe`` asks only for what may follow the bytes already there: a server that answers with
    the whole file instead is not read again.
    """
    offset = _start_offset(job)
    response = _open(opener, job, offset)
    if response is None:
        return "complete"  # nothing lies beyond the bytes already there
    with response:
        _refuse_web_page(response, job)
        span = _span(response, job, offset, probe)
        if span is None:
            return "cannot_resume"  # the whole file again: it cannot tell us what is missing
        offset, total, mode = span
        written = _stream(response, job, offset, total, mode)
    if total is None:
        return "unconfirmed"
    if written < total:
        raise _Transient(f"connection closed at byte {written} of {total}")
    return "complete"


def _start_offset(job: _Request) -> int:
    offset = _size(job.part)
    if job.expected_size is not None and offset > job.expected_size:
        log.warning(
            "%s: %s is larger than the expected %d bytes; starting over",
            job.label,
            job.part,
            job.expected_size,
        )
        job.part.unlink()
        offset = 0
    return offset


def _open(opener, job: _Request, offset: int):
    """The response to a request for the bytes from ``offset``; None when there are none."""
    import http.client
    import urllib.error
    import urllib.request

    request = urllib.request.Request(job.url, headers={"User-Agent": USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        return opener.open(request, timeout=job.network.connect_timeout_s)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and offset:
            _, total = _content_range(err.headers.get("Content-Range"))
            if total is None or total == offset:
                return None
            job.part.unlink()
            raise _Transient(
                f"server refused to resume at byte {offset} (file is {total} bytes); starting over"
            ) from None
        if err.code >= 500 or err.code in _RETRY_STATUS:
            raise _Transient(f"HTTP {err.code} {err.reason}") from None
        raise DownloadError(
            f"HTTP {err.code} {err.reason} from {job.url} for {job.label}; the link may have "
            f"moved. {MIRROR_HINT}"
        ) from None
    except urllib.error.URLError as err:
        raise _Unreachable(_describe(err, job.network)) from None
    except (http.client.HTTPException, OSError) as err:
        # connected, but the server hung up before answering
        raise _Transient(_describe(err, job.network)) from None


def _refuse_web_page(response, job: _Request) -> None:
    content_type = response.headers.get("Content-Type", "") or ""
    if content_type.split(";")[0].strip().lower() == "text/html":
        raise DownloadError(
            f"{job.url} answered with a web page (Content-Type: {content_type}), not the file "
            f"{job.label}; the link may have expired or need a login. {MIRROR_HINT}"
        )


def _span(response, job: _Request, offset: int, probe: bool) -> tuple[int, int | None, str] | None:
    """(first byte, total size if known, file mode) of the body; None for a probe that got the
    whole file again."""
    length_header = response.headers.get("Content-Length")
    length = int(length_header) if length_header and length_header.isdigit() else None
    status = getattr(response, "status", None) or 200
    if status == 206:
        first, total = _content_range(response.headers.get("Content-Range"))
        if first != offset:
            job.part.unlink(missing_ok=True)
            raise _Transient(f"server resumed at byte {first} instead of {offset}; starting over")
        mode = "ab"
    else:
        if probe:
            return None
        # A 200 (or a file:// source) is the whole file: a server that ignores Range must not
        # be appended to what we already have.
        if offset:
            log.info("%s: the server does not resume downloads; starting from byte 0", job.label)
        offset, total, mode = 0, None, "wb"
    if total is None and length is not None:
        total = offset + length
    expected = job.expected_size
    if expected is not None and total is not None and total != expected:
        raise DownloadError(
            f"{job.url} serves {total} bytes for {job.label}, but the download config expects "
            f"{expected}; it is a different file. Check the URL, or set its size to null."
        )
    if total is None:
        total = expected  # a known size tells a cut transfer from a finished one
    elif job.on_total is not None:
        job.on_total(total)
    return offset, total, mode


def _stream(response, job: _Request, offset: int, total: int | None, mode: str) -> int:
    """Write the body to the ``.part`` with a progress bar; returns the bytes it then holds."""
    import http.client

    from tqdm import tqdm

    written = offset
    with (
        open(job.part, mode) as sink,
        tqdm(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1000,  # the same MB as `--list`
            desc=job.label,
            disable=not job.progress,
        ) as bar,
    ):
        try:
            while chunk := response.read1(job.network.chunk_bytes):
                sink.write(chunk)
                written += len(chunk)
                bar.update(len(chunk))
        except (http.client.HTTPException, OSError) as err:
            raise _Transient(
                f"connection dropped at byte {written}: {_describe(err, job.network)}"
            ) from None
        sink.flush()
        os.fsync(sink.fileno())
    return written


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
