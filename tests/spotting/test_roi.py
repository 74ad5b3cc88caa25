"""Regions of interest: boxes from the 68 landmarks of the demo face, the aligned-crop template,
and the fallback to it when no frame shows a face."""

from __future__ import annotations

import logging

import numpy as np

from mesynth.spotting.roi import (
    REFERENCE,
    ROI_NAMES,
    TEMPLATE_BOXES,
    Rois,
    boxes_from_landmarks,
    find_rois,
    template_rois,
)


def test_regions_from_landmarks_are_where_the_face_parts_are(face):
    image, landmarks = face
    rois = boxes_from_landmarks(landmarks, 128, margin=0.15)
    boxes = rois.boxes
    assert set(boxes) == {*ROI_NAMES, REFERENCE}
    centre = {name: ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for name, b in boxes.items()}
    assert centre["brow_left"][1] < centre["eye_left"][1] < centre["nose"][1] < centre["mouth"][1]
    assert centre["brow_left"][0] < centre["nose"][0] < centre["brow_right"][0]
    assert centre["eye_left"][0] < centre["eye_right"][0]
    for name in ROI_NAMES:  # every region holds its landmarks
        x0, y0, x1, y1 = boxes[name]
        assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 128


def test_the_template_puts_the_regions_at_their_shares_of_the_crop():
    rois = template_rois(200)
    assert rois.source == "template"
    assert rois.names == ROI_NAMES
    # mouth: (0.315, 0.650, 0.685, 0.820) of 200 pixels.
    assert rois.boxes["mouth"] == (63, 130, 137, 164)
    assert rois.boxes[REFERENCE] == (94, 103, 106, 115)
    array = rois.to_array()
    assert array.dtype == np.int32 and array.shape == (len(ROI_NAMES) + 1, 4)
    assert array[-1].tolist() == list(rois.boxes[REFERENCE])  # the nose comes last
    assert set(TEMPLATE_BOXES) == {*ROI_NAMES, REFERENCE}


def test_union_pads_every_region_and_stays_inside_the_crop():
    rois = Rois({"mouth": (10, 50, 30, 60), "nose": (18, 30, 22, 34)}, "landmarks")
    assert rois.names == ("mouth",)
    assert rois.union(4, 64) == (6, 26, 34, 64)  # 60 + 4 is clipped to the crop side
    assert rois.union(20, 64) == (0, 10, 50, 64)


def test_boxes_are_clipped_to_the_crop_and_at_least_two_pixels_wide(face):
    _, landmarks = face
    shifted = landmarks - (landmarks[:, 0].min() + 5, 0)  # the face's left edge off the crop
    boxes = boxes_from_landmarks(shifted, 128, margin=0.15).boxes
    for x0, y0, x1, y1 in boxes.values():
        assert 0 <= x0 and x1 <= 128 and x1 - x0 >= 2 and y1 - y0 >= 2
    assert boxes["brow_left"][0] == 0


class Detector:
    """Landmarks of the demo face for frames whose mean is above 0, no face otherwise."""

    def __init__(self, landmarks: np.ndarray) -> None:
        self.landmarks = landmarks

    def detect(self, frame):
        return self.landmarks.copy() if frame.mean() > 0 else None


def test_found_regions_are_scaled_to_the_crop_and_fall_back_to_the_template(face, caplog):
    _, landmarks = face  # on a 128-pixel crop
    detector = Detector(landmarks)
    frames = [np.ones((128, 128), np.uint8), np.zeros((128, 128), np.uint8)]
    found = find_rois(frames, 64, 0.15, detector=detector, video="v_1")
    assert found.source == "landmarks"
    assert found == boxes_from_landmarks(landmarks * 0.5, 64, 0.15)
    with caplog.at_level(logging.WARNING):
        fallback = find_rois(frames[1:], 64, 0.15, detector=detector, video="v_2")
    assert fallback == template_rois(64)
    assert "video v_2: no face found in 1 sampled frame(s)" in caplog.text
