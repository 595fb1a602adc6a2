"""A dataset cache: a folder of array files plus a manifest, written atomically and verified on every load.

The manifest records the recipe that built the folder (source, recipe version, parameters, a fingerprint of the
inputs), the item counts and a sha256 per file. A cache is used only when its recipe equals the requested one
and every file still hashes to its manifest entry; otherwise it is rebuilt, and the reason is logged. Builds go
into a temporary sibling folder that is renamed into place at the end, so an interrupted build never leaves a
half-written cache behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
_TMP_MARK = ".tmp-"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        return json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def check_cache(directory: Path, recipe: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """(manifest, "") if directory holds an intact cache built by recipe, else (None, why not)."""
    if not directory.exists():
        return None, "no cache yet"
    manifest = read_manifest(directory)
    if manifest is None or not isinstance(manifest.get("files"), dict):
        return None, f"{directory / MANIFEST} is missing or unreadable"
    if manifest.get("recipe") != recipe:
        changed = sorted(k for k in set(recipe) | set(manifest.get("recipe") or {})
                         if recipe.get(k) != (manifest.get("recipe") or {}).get(k))
        return None, f"it was built with another recipe (differs in: {', '.join(changed)})"
    for name, entry in manifest["files"].items():
        path = directory / name
        if not path.is_file() or path.stat().st_size != entry["bytes"]:
            return None, f"{name} is missing or has the wrong size"
        if file_sha256(path) != entry["sha256"]:
            return None, f"{name} does not match its checksum"
    return manifest, ""


def _remove_abandoned_builds(directory: Path) -> None:
    """Delete temporary folders left by builds whose process no longer runs (e.g. killed with SIGKILL)."""
    for tmp in directory.parent.glob(f"{directory.name}{_TMP_MARK}*"):
        pid = tmp.name.split(_TMP_MARK, 1)[1].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and process_alive(int(pid)):
            continue
        shutil.rmtree(tmp, ignore_errors=True)


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (a lock or temporary folder whose owner died can be taken over)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build_cache(
    directory: Path, recipe: dict[str, Any], fill: Callable[[Path], dict[str, Any]]
) -> dict[str, Any]:
    """Build a cache with fill(tmp_dir) -> counts, then move it into place; returns the manifest.

    fill writes its files into the temporary folder it is given and returns a JSON-able summary (counts).
    """
    directory.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_builds(directory)
    tmp = directory.parent / f"{directory.name}{_TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        started = time.time()
        counts = fill(tmp)
        files = {
            p.name: {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
            for p in sorted(tmp.iterdir())
            if p.is_file()
        }
        manifest = {
            "recipe": recipe,
            "counts": counts,
            "files": files,
            "build_seconds": round(time.time() - started, 2),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        _replace_directory(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _replace_directory(new: Path, target: Path) -> None:
    """Move new to target; an old target is moved aside first and deleted only after the rename."""
    old = None
    if target.exists():
        old = target.parent / f"{target.name}{_TMP_MARK}{os.getpid()}-old-{uuid.uuid4().hex[:8]}"
        target.rename(old)
    new.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def load_or_build(
    directory: Path, recipe: dict[str, Any], fill: Callable[[Path], dict[str, Any]], what: str
) -> dict[str, Any]:
    """The manifest of an intact cache for recipe at directory, building (or rebuilding) it when needed."""
    manifest, why = check_cache(directory, recipe)
    if manifest is not None:
        return manifest
    if directory.exists():
        log.warning("Rebuilding the %s cache at %s: %s.", what, directory, why)
    else:
        log.info("Building the %s cache at %s.", what, directory)
    return build_cache(directory, recipe, fill)
