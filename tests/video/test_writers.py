from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mesynth.synthesis.output import SynthesisOutput
from mesynth.video.writers import IncompleteVideoError, open_writer, read_video

from .conftest import gradient_frame

NAMES = [f"006_1_{n:04d}" for n in range(1, 10)]


def output_state(kind: str, root: Path, name: str) -> str:
    return SynthesisOutput(root).output_state(name, kind)


def path_of(kind: str, root: Path, name: str) -> Path:
    return SynthesisOutput(root).video_path(name, kind)


@pytest.fixture
def noise_frames() -> np.ndarray:
    # Random RGB noise at an odd size: the hardest case for a codec to keep exact.
    return np.random.default_rng(0).integers(0, 256, (9, 33, 45, 3), dtype=np.uint8)


def test_ffv1_is_bit_exact_and_renamed_on_close(tmp_path: Path, noise_frames: np.ndarray):
    writer = open_writer("ffv1", tmp_path / "006_1.mkv", NAMES, 200.0, (33, 45))
    assert writer.final_path == tmp_path / "006_1.mkv"
    writer.write(noise_frames[:4])
    writer.write(noise_frames[4])  # a single HxWx3 frame is accepted too
    writer.write(noise_frames[5:])
    assert output_state("ffv1", tmp_path, "006_1") == "partial"
    assert not writer.final_path.exists()
    assert writer.close() == tmp_path / "006_1.mkv"
    assert output_state("ffv1", tmp_path, "006_1") == "complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["006_1.mkv"]
    decoded = read_video(writer.final_path)
    assert decoded.shape == noise_frames.shape
    np.testing.assert_array_equal(decoded, noise_frames)


def test_png_sequence_uses_the_source_frame_names(tmp_path: Path, noise_frames: np.ndarray):
    with open_writer("png", tmp_path / "006_1", NAMES, 200.0, (33, 45)) as writer:
        writer.write(noise_frames)
    folder = tmp_path / "006_1"
    assert writer.final_path == folder == path_of("png", tmp_path, "006_1")
    assert sorted(p.stem for p in folder.glob("*.png")) == NAMES
    stored = cv2.cvtColor(cv2.imread(str(folder / f"{NAMES[3]}.png")), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(stored, noise_frames[3])
    assert not (tmp_path / "006_1.partial").exists()


def test_mp4_preview_is_a_close_lossy_copy(tmp_path: Path):
    frames = np.stack([gradient_frame(i, (33, 45), grey=False) for i in range(9)])
    with open_writer("mp4", path_of("mp4", tmp_path, "006_1"), NAMES, 200.0, (33, 45)) as writer:
        writer.write(frames)
    assert writer.final_path.name == "006_1.preview.mp4"
    decoded = read_video(writer.final_path)
    assert decoded.shape == (9, 32, 44, 3)  # 4:2:0 needs even sides
    error = np.abs(decoded.astype(float) - frames[:, :32, :44]).mean()
    assert error < 12.0


@pytest.mark.parametrize("kind", ["png", "ffv1", "mp4"])
def test_an_exception_leaves_neither_final_nor_partial_output(tmp_path: Path, kind: str):
    frames = np.zeros((3, 8, 8, 3), dtype=np.uint8)
    with pytest.raises(RuntimeError, match="model crashed"):
        with open_writer(
            kind, path_of(kind, tmp_path, "v"), ["a", "b", "c", "d"], 30.0, (8, 8)
        ) as writer:
            writer.write(frames)
            raise RuntimeError("model crashed")
    assert list(tmp_path.iterdir()) == []
    assert output_state(kind, tmp_path, "v") == "missing"


def test_short_video_stays_partial_and_a_rerun_replaces_it(tmp_path: Path):
    frames = np.full((4, 8, 8, 3), 7, dtype=np.uint8)
    writer = open_writer("ffv1", tmp_path / "v.mkv", ["a", "b", "c", "d"], 30.0, (8, 8))
    writer.write(frames[:3])
    with pytest.raises(IncompleteVideoError, match="3 of 4 frames"):
        writer.close()
    assert output_state("ffv1", tmp_path, "v") == "partial"
    assert not (tmp_path / "v.mkv").exists()

    with open_writer("ffv1", tmp_path / "v.mkv", ["a", "b", "c", "d"], 30.0, (8, 8)) as rerun:
        rerun.write(frames)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mkv"]
    assert read_video(tmp_path / "v.mkv").shape == (4, 8, 8, 3)

    with pytest.raises(FileExistsError, match="v.mkv already exists"):
        open_writer("ffv1", tmp_path / "v.mkv", ["a", "b", "c", "d"], 30.0, (8, 8))
    with open_writer("ffv1", tmp_path / "v.mkv", ["a"], 30.0, (8, 8), overwrite=True) as again:
        again.write(frames[:1])
    assert read_video(tmp_path / "v.mkv").shape == (1, 8, 8, 3)


def test_wrong_frames_are_refused(tmp_path: Path):
    with open_writer("png", tmp_path / "v", ["a", "b"], None, (8, 8)) as writer:
        with pytest.raises(ValueError, match=r"N x 8 x 8 x 3, got \(2, 8, 9, 3\)"):
            writer.write(np.zeros((2, 8, 9, 3), dtype=np.uint8))
        with pytest.raises(ValueError, match="uint8"):
            writer.write(np.zeros((1, 8, 8, 3), dtype=np.float32))
        writer.write(np.zeros((2, 8, 8, 3), dtype=np.uint8))
        with pytest.raises(IncompleteVideoError, match="has 2 frames but 3"):
            writer.write(np.zeros((1, 8, 8, 3), dtype=np.uint8))
    assert output_state("png", tmp_path, "v") == "complete"
    with pytest.raises(ValueError, match="writer kind='gif' is not one of"):
        open_writer("gif", tmp_path / "v.gif", ["a"], 30.0, (8, 8))


def test_png_threads_write_the_same_bytes(tmp_path: Path) -> None:
    frames = np.random.default_rng(1).integers(0, 256, (9, 33, 45, 3), dtype=np.uint8)
    contents = {}
    for threads in (1, 4):
        root = tmp_path / f"threads{threads}"
        with open_writer("png", root / "v", NAMES, None, (33, 45), threads=threads) as writer:
            buffer = np.empty_like(frames[:2])
            for begin in range(0, len(frames), 2):  # the caller reuses one buffer
                batch = frames[begin : begin + 2]
                buffer[: len(batch)] = batch
                writer.write(buffer[: len(batch)])
        assert writer.threads == threads
        contents[threads] = {p.name: p.read_bytes() for p in sorted((root / "v").iterdir())}
    assert list(contents[4]) == [f"{name}.png" for name in NAMES]
    assert contents[4] == contents[1]
    stored = cv2.imread(str(tmp_path / "threads4" / "v" / f"{NAMES[8]}.png"))
    np.testing.assert_array_equal(cv2.cvtColor(stored, cv2.COLOR_BGR2RGB), frames[8])


def test_a_failed_png_thread_fails_the_video(tmp_path: Path) -> None:
    frames = np.zeros((9, 8, 8, 3), dtype=np.uint8)
    writer = open_writer("png", tmp_path / "v", NAMES, None, (8, 8), threads=3)
    writer.write(frames[:2])
    writer.temp_path.rename(tmp_path / "moved")  # the folder vanishes under the writer
    with pytest.raises(OSError, match="could not write"):  # on a later write, or on close
        writer.write(frames[2:])
        writer.close()
    writer.abort()
    assert not (tmp_path / "v").exists() and not writer.temp_path.exists()


@pytest.mark.parametrize("value", [0, -2, "many", True, 1.5])
def test_writer_threads_must_be_a_count_or_auto(tmp_path: Path, value) -> None:
    with pytest.raises(ValueError, match="writer.threads"):
        open_writer("png", tmp_path / "v", NAMES, None, (8, 8), threads=value)
