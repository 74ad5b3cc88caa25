"""Dataset layouts: which files under a path make up which videos, with which ids.

``open_sources(path)`` returns one :class:`mesynth.video.decoders.VideoSource` per video of a
SAMM-LV or CAS(ME)^2 root, a folder (or folder of folders) of frames, or video files;
``detect_layout`` says which of these a path is. A new layout is one ``_<name>_sources``
function (folders of frames go through :func:`_folder_source`) and its branch in
``open_sources``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from natsort import natsorted, ns

from mesynth.atomic import PARTIAL_SUFFIX
from mesynth.config import check_choice
from mesynth.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES, is_image
from mesynth.video.decoders import (
    FrameFolderSource,
    NumberedFrames,
    VideoFileSource,
    VideoSource,
    describe_frame_rates,
    missing_frames,
)

log = logging.getLogger(__name__)

LAYOUTS = ("auto", "samm_lv", "casme2", "folder", "video")
BAD_FRAME_POLICIES = ("error", "skip")
VERIFY_MODES = ("none", "quick", "full")

# Frame rates fixed by the dataset protocols (the frame folders themselves carry none).
SAMM_LV_FPS = 200.0
CASME2_FPS = 30.0

_TRAILING_NUMBER = re.compile(r"^(.*?)(\d+)$")
_CASME2_PARTICIPANT = re.compile(r"^s\d+$", re.IGNORECASE)
_CASME2_FRAME = re.compile(r"^img(\d+)$", re.IGNORECASE)
_CASME2_VIDEO = re.compile(r"^\d+_(\d{4})")


class LayoutError(ValueError):
    """A dataset path that does not look like the requested (or any known) layout."""


def _images_in(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if is_image(p)]


def _subdirs(folder: Path) -> list[Path]:
    """Sub-folders in natural order, without hidden ones and unfinished ``*.partial`` outputs."""
    return natsorted(
        (
            p
            for p in folder.iterdir()
            if p.is_dir() and not p.name.startswith(".") and not p.name.endswith(PARTIAL_SUFFIX)
        ),
        key=lambda p: p.name,
        alg=ns.IGNORECASE,
    )


def _number_frames(
    folder: Path, files: list[Path], pattern: re.Pattern | None
) -> NumberedFrames | None:
    """Order files by their frame number; None if the names carry no consistent number.

    With a layout ``pattern`` (last group = the number) every file must match it; without one,
    the trailing digits are used when all files share one prefix.
    """
    numbered = []
    for path in files:
        match = (pattern or _TRAILING_NUMBER).match(path.stem)
        if match is None:
            if pattern is not None:
                raise LayoutError(
                    f"frame file {path} does not match the expected name pattern "
                    f"{pattern.pattern!r}; move it out of {folder} or choose another layout"
                )
            return None
        digits = match.lastindex
        numbered.append((int(match.group(digits)), path.stem[: match.start(digits)], path))
    if len({prefix.lower() for _, prefix, _ in numbered}) > 1:
        if pattern is not None:
            raise LayoutError(f"{folder} mixes frame name prefixes; keep one video per folder")
        return None
    numbered.sort(key=lambda item: item[0])
    numbers = [n for n, _, _ in numbered]
    if len(set(numbers)) != len(numbers):
        duplicates = sorted({n for n in numbers if numbers.count(n) > 1})[:5]
        raise LayoutError(
            f"{folder} has several files with frame number(s) {duplicates}; keep one file per frame"
        )
    first_number, prefix, first = numbered[0]
    width = len(first.stem) - len(prefix)
    return NumberedFrames([p for _, _, p in numbered], numbers, width, prefix, first.suffix)


def _folder_source(
    folder: Path,
    video_id: str,
    participant: str,
    layout: str,
    fps: float | None,
    pattern: re.Pattern | None,
    on_bad_frame: str,
) -> FrameFolderSource:
    files = _images_in(folder)
    if not files:
        raise LayoutError(f"{folder} holds no image files ({sorted(IMAGE_SUFFIXES)})")
    numbered = _number_frames(folder, files, pattern)
    if numbered is None:
        ordered = natsorted(files, key=lambda p: p.name, alg=ns.IGNORECASE)
        return FrameFolderSource(
            video_id, participant, folder, ordered, list(range(len(ordered))), fps, layout
        )
    skipped = missing_frames(video_id, folder, numbered, on_bad_frame)
    return FrameFolderSource(
        video_id, participant, folder, numbered.files, numbered.numbers, fps, layout, skipped
    )


def _samm_pattern(video_dir: Path) -> re.Pattern:
    return re.compile(rf"^({re.escape(video_dir.name)}_)(\d{{4,5}})$")


def _is_samm_video(folder: Path, images: list[Path]) -> bool:
    if "_" not in folder.name or not images:
        return False
    pattern = _samm_pattern(folder)
    return all(pattern.match(p.stem) for p in images)


def _samm_sources(path: Path, on_bad_frame: str) -> list[FrameFolderSource]:
    images = _images_in(path)
    folders = [path] if images else _subdirs(path)
    sources = []
    for folder in folders:
        if folder is not path and not _images_in(folder):
            log.debug("skipping %s: no frames", folder)
            continue
        if "_" not in folder.name:
            raise LayoutError(
                f"{folder} is not a SAMM-LV video folder: expected '<subject>_<video>' holding "
                f"'<subject>_<video>_<frame>.jpg'; use layout=folder for other names"
            )
        participant = folder.name.split("_")[0]
        sources.append(
            _folder_source(
                folder,
                folder.name,
                participant,
                "samm_lv",
                SAMM_LV_FPS,
                _samm_pattern(folder),
                on_bad_frame,
            )
        )
    if not sources:
        raise LayoutError(f"{path} holds no SAMM-LV video folders ('<subject>_<video>/')")
    return sources


def _casme2_video_id(participant: str, folder_name: str) -> str:
    match = _CASME2_VIDEO.match(folder_name)
    code = match.group(1) if match else folder_name
    return f"{participant.lower()}_{code}"


def _casme2_sources(path: Path, on_bad_frame: str) -> list[FrameFolderSource]:
    if (path / "rawpic").is_dir():
        path = path / "rawpic"
    if _images_in(path):  # a single video folder: rawpic/sNN/<code>/
        video_dirs = [(path.parent.name, path)]
    elif _CASME2_PARTICIPANT.match(path.name):  # one participant: rawpic/sNN/
        video_dirs = [(path.name, d) for d in _subdirs(path)]
    else:
        participant_dirs = [d for d in _subdirs(path) if _CASME2_PARTICIPANT.match(d.name)]
        if not participant_dirs:
            raise LayoutError(
                f"{path} is not a CAS(ME)^2 root: expected 'rawpic/sNN/<video>/imgN.jpg' "
                "(participant folders named sNN)"
            )
        video_dirs = [(p.name, d) for p in participant_dirs for d in _subdirs(p)]
    sources = []
    for participant, folder in video_dirs:
        if not _images_in(folder):
            log.debug("skipping %s: no frames", folder)
            continue
        sources.append(
            _folder_source(
                folder,
                _casme2_video_id(participant, folder.name),
                participant.lower(),
                "casme2",
                CASME2_FPS,
                re.compile(r"^(img)(\d+)$", re.IGNORECASE),
                on_bad_frame,
            )
        )
    if not sources:
        raise LayoutError(f"{path} holds no CAS(ME)^2 videos ('sNN/<video>/imgN.jpg')")
    return sources


def _generic_folder_sources(path: Path, on_bad_frame: str) -> list[FrameFolderSource]:
    if _images_in(path):
        folders = [path]
    else:
        folders = [d for d in _subdirs(path) if _images_in(d)]
    if not folders:
        raise LayoutError(f"{path} holds no image files nor folders of image files")
    return [
        _folder_source(d, d.name, d.name.split("_")[0], "folder", None, None, on_bad_frame)
        for d in folders
    ]


def _video_sources(path: Path) -> list[VideoFileSource]:
    if path.is_file():
        files = [path]
    else:
        files = natsorted(
            (p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES),
            key=lambda p: p.name,
            alg=ns.IGNORECASE,
        )
    if not files:
        raise LayoutError(f"{path} holds no video files ({sorted(VIDEO_SUFFIXES)})")
    return [VideoFileSource(f) for f in files]


def _looks_casme2(path: Path) -> bool:
    if (path / "rawpic").is_dir() or path.name.lower() == "rawpic":
        return True
    candidates = [path] if _CASME2_PARTICIPANT.match(path.name) else _subdirs(path)
    for participant in candidates[:3]:
        if not _CASME2_PARTICIPANT.match(participant.name):
            continue
        for video in _subdirs(participant)[:1]:
            images = _images_in(video)
            if images and all(_CASME2_FRAME.match(p.stem) for p in images):
                return True
    images = _images_in(path)
    return (
        bool(images)
        and _CASME2_PARTICIPANT.match(path.parent.name) is not None
        and all(_CASME2_FRAME.match(p.stem) for p in images)
    )


def detect_layout(path: str | Path) -> str:
    """Which of ``samm_lv|casme2|folder|video`` the dataset at ``path`` uses."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"source {path} does not exist; point source= at a video file, "
            "a folder of frames or a dataset root"
        )
    if path.is_file():
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return "video"
        raise LayoutError(
            f"source {path} is a file but not a video ({sorted(VIDEO_SUFFIXES)}); point source= "
            "at a video file, a folder of frames or a dataset root"
        )
    if _looks_casme2(path):
        return "casme2"
    images = _images_in(path)
    if images:
        return "samm_lv" if _is_samm_video(path, images) else "folder"
    video_dirs = [d for d in _subdirs(path) if _images_in(d)]
    if video_dirs:
        if all(_is_samm_video(d, _images_in(d)) for d in video_dirs):
            return "samm_lv"
        return "folder"
    if any(p.suffix.lower() in VIDEO_SUFFIXES for p in path.iterdir()):
        return "video"
    raise LayoutError(
        f"no frames or videos found under {path}: expected a video file, a folder of frames, "
        "'<subject>_<video>/<subject>_<video>_<frame>.jpg' (SAMM-LV) or "
        "'rawpic/sNN/<video>/imgN.jpg' (CAS(ME)^2)"
    )


def open_sources(
    path: str | Path,
    layout: str = "auto",
    on_bad_frame: str = "error",
    verify: str | None = None,
) -> list[VideoSource]:
    """Open every video under ``path`` (a video file, a frame folder or a dataset root).

    ``verify``: ``none`` trusts the listing (bad files raise when read), ``quick`` checks every
    file's size and JPEG/PNG end markers at open, ``full`` decodes every frame at open. The
    default is ``quick`` when skipping bad frames (so the video length is final before any frame
    is read) and ``none`` otherwise (reading then still raises on any bad frame).
    """
    path = Path(path)
    check_choice("layout", layout, LAYOUTS)
    check_choice("on_bad_frame", on_bad_frame, BAD_FRAME_POLICIES)
    if verify is None:
        verify = "quick" if on_bad_frame == "skip" else "none"
    check_choice("verify", verify, VERIFY_MODES)
    if not path.exists():
        raise FileNotFoundError(
            f"source {path} does not exist; point source= at a video file, a folder of frames "
            "or a dataset root"
        )
    chosen = detect_layout(path) if layout == "auto" else layout
    if chosen == "video":
        sources: list[VideoSource] = _video_sources(path)
    elif path.is_file():
        raise LayoutError(f"layout {chosen} needs a folder but {path} is a file; use layout=video")
    elif chosen == "samm_lv":
        sources = _samm_sources(path, on_bad_frame)
    elif chosen == "casme2":
        sources = _casme2_sources(path, on_bad_frame)
    else:
        sources = _generic_folder_sources(path, on_bad_frame)
    if verify != "none":
        for source in sources:
            source.verify(on_bad_frame, full=verify == "full")
    ids = [s.video_id for s in sources]
    if len(set(ids)) != len(ids):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        raise LayoutError(f"{path}: several videos share the id(s) {duplicates}")
    log.info(
        "opened %d video(s) from %s: layout %s (%s), %s, %d frames in total",
        len(sources),
        path,
        chosen,
        "detected" if layout == "auto" else "as set",
        describe_frame_rates(sources),
        sum(len(s) for s in sources),
    )
    return sources
