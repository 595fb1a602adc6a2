"""What a user points preprocessing at: a folder tree, or a text file listing videos and frame folders.

Accepted layouts (mixable):
- videos anywhere below the folder: .mp4 .mov .mkv .avi .webm (any letter case);
- VoxCeleb trees `id/video/clip.mp4`;
- folders of frame images (png/jpg, one folder per clip), as in the FOMM/LIA `vox-png` layout
  (`train/id10001#7w0IBEWc9Qw#00001#001.mp4/0000000.png`): a folder that directly holds images and no videos
  is one clip (images beside videos, such as thumbnails, are ignored);
- a .txt file with one path per line (relative to the file's folder or absolute; blank lines and # comments are
  skipped), or a single video file.

Identity (what the train/val/test split keeps apart) comes from the path below the root: the folder at
`identity_level` (0 = the top folder, as in VoxCeleb's `id/...`; -1 = the folder holding the clip), or the first
group of `identity_regex` searched in the path (e.g. `([^/#]+)#` for the vox-png names above). A file directly
in the root is its own identity (its name without extension).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from motioncontent.data.video_io import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from motioncontent.errors import DataError

InputKind = Literal["video", "frames"]
BOXES_SUFFIX = ".boxes.csv"


@dataclass(frozen=True)
class InputItem:
    """One input clip: a video file or a folder of frames; `rel` is its posix path below the root."""

    path: Path
    kind: InputKind
    rel: str

    @property
    def key(self) -> str:
        """A file-name-safe unique name: the readable path plus a hash of it (two paths never collide)."""
        readable = re.sub(r"[^A-Za-z0-9._-]+", "_", self.rel)[-80:].strip("_.") or "clip"
        return f"{readable}-{hashlib.sha1(self.rel.encode()).hexdigest()[:8]}"

    @property
    def boxes_file(self) -> Path:
        """Sidecar of face boxes for `--crop box`: clip.mp4 -> clip.boxes.csv; frames/ -> frames.boxes.csv."""
        base = self.path.with_suffix("") if self.kind == "video" else self.path
        return base.parent / (base.name + BOXES_SUFFIX)


@dataclass
class Listing:
    items: list[InputItem]
    ignored: int  # files with other extensions (box sidecars excluded), counted in the summary line
    root: Path


def _is_hidden(part: str) -> bool:
    return part.startswith(".")


def scan_folder(root: Path) -> Listing:
    items, ignored = [], 0
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not _is_hidden(d))
        here = Path(folder)
        names = sorted(f for f in files if not _is_hidden(f) and not f.endswith(BOXES_SUFFIX))
        videos = [f for f in names if Path(f).suffix.lower() in VIDEO_EXTENSIONS]
        images = [f for f in names if Path(f).suffix.lower() in IMAGE_EXTENSIONS]
        if images and not videos:  # a folder of frames is one clip (a thumbnail beside videos is not)
            rel = here.relative_to(root).as_posix() if here != root else root.name
            items.append(InputItem(here, "frames", rel))
            ignored += len(names) - len(images)
            continue
        items += [InputItem(here / f, "video", (here / f).relative_to(root).as_posix()) for f in videos]
        ignored += len(names) - len(videos)
    return Listing(items, ignored, root)


def read_list(list_file: Path) -> Listing:
    """Entries of a text list; paths are kept relative to the deepest folder they all share."""
    paths = []
    for line in list_file.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            path = Path(line).expanduser()
            paths.append(path if path.is_absolute() else list_file.parent / path)
    if not paths:
        raise DataError(f"{list_file} lists no videos")
    paths = [Path(os.path.normpath(p)) for p in paths]
    root = Path(os.path.commonpath([p.parent for p in paths]))
    items = [InputItem(p, "frames" if p.is_dir() else "video", p.relative_to(root).as_posix()) for p in paths]
    return Listing(items, 0, root)


def list_inputs(src: str | Path) -> Listing:
    """Every input below a folder, listed in a .txt file, or a single video; raises DataError otherwise."""
    src = Path(src).expanduser()
    if src.is_dir():
        return scan_folder(src)
    if src.is_file() and src.suffix.lower() == ".txt":
        return read_list(src)
    if src.is_file() and src.suffix.lower() in VIDEO_EXTENSIONS:  # one video: handy for a first try
        return Listing([InputItem(src, "video", src.name)], 0, src.parent)
    if src.is_file():
        raise DataError(f"--src {src} is neither a video nor a .txt list; give a folder of videos or a list")
    raise DataError(f"--src {src} does not exist")


def identity_of(rel: str, level: int = 0, regex: str | None = None) -> str | None:
    """The identity of an input at posix path `rel` below the root (None when the regex does not match)."""
    if regex:
        match = re.search(regex, rel)
        if match is None:
            return None
        return match.group(1) if match.groups() else match.group(0)
    parts = PurePosixPath(rel).parts
    folders = parts[:-1]
    if not folders:
        return PurePosixPath(rel).stem if Path(rel).suffix.lower() in VIDEO_EXTENSIONS else parts[0]
    return folders[level] if -len(folders) <= level < len(folders) else folders[-1]  # too deep: the innermost
