"""The one cache-key builder: what makes a frame source's frames what they are, and digests.

A cached result (AU CSVs, spotting features) records the key it was made with and is reused only
when the key is the same now. The source's part of a key holds the sizes and modification times
of its files, so frames written again at the same path (a video synthesised again) never reuse
what the earlier frames gave.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np


def digest(data: object) -> str:
    """A short stable digest of JSON-able ``data`` (key order does not matter)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def source_identity(source) -> dict:
    """What makes a source's frames what they are: path, frames, and the files' sizes and
    modification times (a changed or replaced frame changes the identity).

    ``source``: a :class:`mesynth.video.decoders.VideoSource` (a frame folder lists its
    ``files``; a video file is one file)."""
    path = Path(getattr(source, "path", "")).resolve()
    numbers = np.asarray(source.frame_numbers, dtype=np.int64)
    identity = {
        "type": type(source).__name__,
        "path": str(path),
        "video_id": str(getattr(source, "video_id", "")),
        "frames": len(source),
        "numbers": hashlib.sha256(numbers.tobytes()).hexdigest()[:16],
    }
    files = getattr(source, "files", None)
    if files is not None:
        files_digest = hashlib.sha256()
        for file in files:
            status = os.stat(file)
            files_digest.update(
                f"{Path(file).name}:{status.st_size}:{status.st_mtime_ns};".encode()
            )
        identity["files"] = files_digest.hexdigest()
    elif path.is_file():
        status = path.stat()
        identity["size"], identity["mtime_ns"] = status.st_size, status.st_mtime_ns
    return identity


def same_key(recorded: object, key: Mapping) -> bool:
    """Whether a key read back from a cache file is ``key`` (compared as JSON would store it)."""
    return recorded == json.loads(json.dumps(key))
