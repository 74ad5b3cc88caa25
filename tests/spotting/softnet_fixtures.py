"""Inputs of the SOFTNet tests, all generated: a small, deterministic face clip (the demo face
smiling then frowning on a textured background, RGB with a slight colour cast so the JPEG round
trip sees colour), a Keras-layout weight file with seeded weights, and network inputs."""

from __future__ import annotations

import numpy as np

INTENSITIES = ((12, 0.0), (12, 0.3), (12, 0.7), (12, 1.0), (4, 0.6), (4, 1.0), (4, 0.2))


def softnet_clip(face_size: int = 200, frame_size: int = 280) -> np.ndarray:
    """(7, frame_size, frame_size, 3) uint8 RGB frames."""
    from mesynth.video.demo_clip import FaceWarper, demo_face

    face, landmarks = demo_face(face_size)
    warper = FaceWarper(face, landmarks)
    rng = np.random.default_rng(7)
    background = rng.integers(60, 200, (frame_size, frame_size), dtype=np.uint8)
    offset = (frame_size - face_size) // 2
    frames = []
    for action_unit, intensity in INTENSITIES:
        grey = background.copy()
        grey[offset : offset + face_size, offset + 6 : offset + 6 + face_size] = warper.render(
            {action_unit: intensity}
        )
        tint = np.array([1.0, 0.93, 0.85])
        frames.append(np.clip(grey[:, :, None] * tint, 0, 255).astype(np.uint8))
    return np.stack(frames)


LAYERS = {  # Keras layer -> (kernel shape, bias size), in the file's order
    "conv2d": ((5, 5, 1, 3), 3),
    "conv2d_1": ((5, 5, 1, 5), 5),
    "conv2d_2": ((5, 5, 1, 8), 8),
    "dense": ((784, 400), 400),
    "dense_1": ((400, 1), 1),
}


def write_keras_weights(path, seed: int = 0) -> None:
    """A Keras ``save_weights`` HDF5 file of the SOFTNet layout with seeded random weights,
    written with h5py the way Keras 2 lays it out (inputs, pools and flatten have no weights)."""
    import h5py

    rng = np.random.default_rng(seed)
    names = ["input_1", "input_2", "input_3", "conv2d", "conv2d_1", "conv2d_2"]
    names += ["max_pooling2d", "max_pooling2d_1", "max_pooling2d_2", "concatenate"]
    names += ["max_pooling2d_3", "flatten", "dense", "dense_1"]
    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = np.array([n.encode() for n in names])
        handle.attrs["backend"] = b"tensorflow"
        handle.attrs["keras_version"] = b"2.2.4-tf"
        for name in names:
            group = handle.create_group(name)
            if name not in LAYERS:
                group.attrs["weight_names"] = np.array([], dtype=np.float64)
                continue
            shape, size = LAYERS[name]
            scale = 0.3 if name.startswith("conv") else 0.05
            group.attrs["weight_names"] = np.array(
                [f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()]
            )
            inner = group.create_group(name)
            inner["kernel:0"] = (rng.standard_normal(shape) * scale).astype(np.float32)
            inner["bias:0"] = (rng.standard_normal(size) * 0.05).astype(np.float32)


def network_inputs(count: int = 16, seed: int = 1) -> np.ndarray:
    """(count, 42, 42, 3) float32 inputs in [0, 1], channels-last as Keras reads them."""
    return np.random.default_rng(seed).random((count, 42, 42, 3)).astype(np.float32)
