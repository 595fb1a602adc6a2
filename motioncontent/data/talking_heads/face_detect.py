"""Face boxes from mediapipe 0.10.14's BlazeFace detector, the optional `faces` extra.

mediapipe's wheel ships the detector models as TFLite files, so this runs offline on CPU (TALKING_HEADS.md 2.2).
It is imported only when a face crop is asked for; without the extra the error says how to install it.
When several faces are found the one that overlaps the previous frame's face most is kept (else the largest),
so a second person walking past does not steal the crop.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from motioncontent.data.talking_heads.face_crop import box_iou
from motioncontent.errors import MotionContentError

INSTALL_HINT = "pip install 'motioncontent[faces]'  (mediapipe==0.10.14; `make install` installs it)"


class MissingExtra(MotionContentError):
    """An optional dependency is not installed."""


def import_mediapipe() -> Any:
    # Its protobuf use warns on every first call. (Its C++ start-up log lines, ~4 per process, cannot be turned
    # off from Python in 0.10.14: GLOG_minloglevel, TF_CPP_MIN_LOG_LEVEL and ABSL_MIN_LOG_LEVEL were tried.)
    warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
    try:
        import mediapipe as mp
    except ImportError:
        raise MissingExtra(f"face detection needs mediapipe, which is not installed: {INSTALL_HINT}") from None
    if not hasattr(mp, "solutions"):
        raise MissingExtra(f"mediapipe {getattr(mp, '__version__', '?')} has no bundled face models; {INSTALL_HINT}")
    return mp


class FaceDetector:
    """Callable: RGB uint8 (H, W, 3) -> the chosen face box (left, top, right, bottom) in pixels, or None.

    Args:
        model: 0 = short-range (faces within ~2 m, selfie framing), 1 = full-range (smaller, farther faces).
        min_confidence: detections scoring below this are ignored.
    """

    def __init__(self, model: int = 1, min_confidence: float = 0.5):
        mp = import_mediapipe()
        self._detector = mp.solutions.face_detection.FaceDetection(model_selection=model,
                                                                   min_detection_confidence=min_confidence)
        self.previous: np.ndarray | None = None

    def boxes(self, rgb: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """All detections as (box in pixels, score)."""
        h, w = rgb.shape[:2]
        result = self._detector.process(np.ascontiguousarray(rgb))
        found = []
        for detection in result.detections or []:
            r = detection.location_data.relative_bounding_box
            box = np.array([r.xmin * w, r.ymin * h, (r.xmin + r.width) * w, (r.ymin + r.height) * h])
            found.append((np.clip(box, 0, [w, h, w, h]), float(detection.score[0])))
        return found

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        found = self.boxes(rgb)
        if not found:
            return None
        if self.previous is not None:
            overlap = [box_iou(self.previous, box) for box, _ in found]
            if max(overlap) > 0:
                self.previous = found[int(np.argmax(overlap))][0]
                return self.previous
        areas = [(b[2] - b[0]) * (b[3] - b[1]) * score for b, score in found]
        self.previous = found[int(np.argmax(areas))][0]
        return self.previous

    def reset(self) -> None:
        """Forget the previous face (call between videos)."""
        self.previous = None

    def close(self) -> None:
        self._detector.close()


class FaceMesh:
    """Callable: RGB uint8 -> (468, 2) landmark pixels of the largest face, or None. Used to check crops."""

    def __init__(self) -> None:
        mp = import_mediapipe()
        self._mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1)

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        h, w = rgb.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(rgb))
        if not result.multi_face_landmarks:
            return None
        return np.array([[p.x * w, p.y * h] for p in result.multi_face_landmarks[0].landmark])

    def close(self) -> None:
        self._mesh.close()
