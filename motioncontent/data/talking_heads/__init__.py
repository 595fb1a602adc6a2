"""Talking-head data: your own videos (sources -> video_io -> face boxes -> face_crop -> extract -> preprocess
-> clips) and the synthetic default (synthetic_motion, synthetic_faces, synthetic_set). The DataModule that
reads both is data/talking_heads_datamodule.py.

- sources.py: what --src may point at, and the identity of each input
- boxes.py / face_detect.py: face boxes from a sidecar file / from mediapipe (the optional `faces` extra)
- face_crop.py: enlargement, gap filling, cuts and smoothing of the crop; crop + resize
- extract.py: one input -> its clips (find the face, plan the crops, write the clips)
- preprocess.py: the resumable, parallel run over a folder into a clip cache with a manifest and a report
- clips.py: the identity split and the windows a DataLoader reads
- synthetic_*.py: the parametric faces, their motion, and the cached synthetic set
"""
