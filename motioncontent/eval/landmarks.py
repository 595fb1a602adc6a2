"""Mesh keypoint distance: a landmark-based motion error from mediapipe's face mesh (offline, CPU).

TALKING_HEADS.md 2.2: mediapipe 0.10.14's wheel ships the face-mesh model (468 points), so this runs without any
download; it is **not** FOMM's AKD (FAN-68 points, pixels) and is named differently on purpose. Per frame:

1. the 468 (x, y) points of the generated frame and of the driving frame;
2. the face position is removed (each frame's points minus their centroid);
3. distances are divided by the clip's inter-ocular distance (outer eye corners, averaged over the clip's frames:
   a per-frame divisor would cancel the foreshortening that yaw causes, which is motion);
4. the distance is the mean Euclidean distance over the 468 points, in inter-ocular distances.

Frames where either face is not found are skipped and counted (a blurred generated face may not be found at all:
the detection rate is reported next to the distance). If mediapipe or its model is missing, `landmark_status`
says why and the metric reports itself unavailable instead of failing the evaluation.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

NUM_POINTS = 468
# Outer eye corners of mediapipe's canonical face mesh (the subject's right and left eye).
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263


def landmark_status() -> tuple[bool, str]:
    """(True, "") when mediapipe's face mesh runs here offline, else (False, why not)."""
    try:
        mesh = FaceMeshLandmarks()
        mesh(np.zeros((1, 64, 64, 3), np.uint8))  # builds the graph and loads the bundled TFLite model
        mesh.close()
    except Exception as error:  # noqa: BLE001 - any failure (missing extra, model file, protobuf clash) = unavailable
        return False, f"{type(error).__name__}: {error}"
    return True, ""


class FaceMeshLandmarks:
    """Callable: RGB uint8 frames (T, H, W, 3) -> points (T, 468, 2) in pixels, rows of NaN where no face.

    Static-image mode (a fresh detection every frame): frames of one clip are scored independently, so a result
    does not depend on which frames were scored before it.
    """

    def __init__(self, min_confidence: float = 0.5):
        from motioncontent.data.talking_heads.face_detect import import_mediapipe

        mp = import_mediapipe()
        warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
        self._mesh: Any = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                                          refine_landmarks=False,
                                                          min_detection_confidence=min_confidence)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        out = np.full((len(frames), NUM_POINTS, 2), np.nan)
        for t, frame in enumerate(frames):
            h, w = frame.shape[:2]
            result = self._mesh.process(np.ascontiguousarray(frame))
            if result.multi_face_landmarks:
                points = result.multi_face_landmarks[0].landmark
                out[t] = [(p.x * w, p.y * h) for p in points[:NUM_POINTS]]
        return out

    def close(self) -> None:
        self._mesh.close()


def normalise_landmarks(points: np.ndarray) -> np.ndarray:
    """(T, P, 2) points of one clip (NaN rows = no face) -> centred per frame, in units of the clip's mean
    inter-ocular distance. All NaN when no frame has a face."""
    centred = points - points.mean(axis=1, keepdims=True)  # a frame without a face is NaN in every point
    iod = np.linalg.norm(points[:, RIGHT_EYE_OUTER] - points[:, LEFT_EYE_OUTER], axis=-1)
    found = np.isfinite(iod)
    if not found.any():
        return np.full_like(points, np.nan)
    return centred / iod[found].mean()


def landmark_distance(generated: np.ndarray, driving: np.ndarray) -> np.ndarray:
    """Normalised (T, P, 2) point sets -> (T,) mean point distance per frame; NaN where either has no face."""
    return np.linalg.norm(generated - driving, axis=-1).mean(axis=-1)


__all__ = ["FaceMeshLandmarks", "landmark_distance", "landmark_status", "normalise_landmarks"]
