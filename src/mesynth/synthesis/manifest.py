"""``manifest.json``: what a synthesis run made, from which networks, and how far it got.

One file per output folder. It records the config, the checkpoint (path and sha256, or that the
weights were untrained) and, per video, its reference, domain, frame count, output path and
status. Status ``done`` is only written after the output was renamed to its final name with
the full frame count; a re-run skips those and redoes ``partial`` and ``failed`` ones.
Every write replaces the file atomically, so a crash never leaves a truncated manifest.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
STATUSES = ("partial", "done", "failed")

_lock = threading.Lock()


def sha256_of(path: str | Path, chunk_bytes: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


class Manifest:
    """Read-modify-write access to ``<output_dir>/manifest.json``.

    Every update re-reads the file first, so several writers in one process (the run and the
    prediction writer's thread) never lose each other's entries.
    """

    def __init__(self, output_dir: str | Path) -> None:
        self.path = Path(output_dir) / MANIFEST_NAME

    def read(self) -> dict:
        if not self.path.is_file():
            return {"version": MANIFEST_VERSION, "videos": {}}
        try:
            data = json.loads(self.path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(
                f"{self.path} is not valid json ({error}); delete it to start this output "
                "folder afresh (all videos will be made again)"
            ) from error
        data.setdefault("videos", {})
        return data

    def _write(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(data, indent=2, default=str))
        partial.replace(self.path)

    def start_run(self, config: dict, checkpoint: dict, untrained: bool) -> dict:
        """Record the run's settings; refuse to mix outputs of different networks in one folder."""
        with _lock:
            data = self.read()
            previous = data.get("checkpoint")
            if previous is not None and data.get("videos"):
                done = [v for v, e in data["videos"].items() if e.get("status") == "done"]
                if done and (
                    previous.get("sha256") != checkpoint.get("sha256")
                    or bool(data.get("untrained")) != untrained
                ):
                    raise ValueError(
                        f"{self.path} records {len(done)} video(s) made with checkpoint "
                        f"{previous.get('path')} (sha256 {previous.get('sha256')}), but this run "
                        f"uses {checkpoint.get('path')} (sha256 {checkpoint.get('sha256')}); "
                        "use a new output_dir, or delete the old outputs first"
                    )
            data.update(
                version=MANIFEST_VERSION,
                config=config,
                checkpoint=checkpoint,
                untrained=untrained,
                updated=time.strftime("%Y-%m-%dT%H:%M:%S"),
            )
            self._write(data)
            return data

    def videos(self) -> dict[str, dict]:
        return self.read()["videos"]

    def update_video(self, video: str, **fields: object) -> None:
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"status {fields['status']!r} is not one of {STATUSES}")
        with _lock:
            data = self.read()
            entry = data["videos"].setdefault(video, {})
            entry.update(fields)
            data["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
            self._write(data)

    def update_videos(self, updates: dict[str, dict]) -> None:
        """Several videos in one write (cheaper than one write per video for big datasets)."""
        with _lock:
            data = self.read()
            for video, fields in updates.items():
                data["videos"].setdefault(video, {}).update(fields)
            data["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
            self._write(data)
