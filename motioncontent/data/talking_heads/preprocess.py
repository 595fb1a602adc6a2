"""Raw talking-head videos -> a lossless clip cache: decode at a fixed fps, crop the face, resize, store uint8.

    preprocess(src, dst, PreprocessSettings(size=64, crop="detect"), workers=2)

Layout of `dst`: CACHE_LAYOUT. Each input is processed on its own, in parallel workers, by extract.py (find the
face, plan smooth crops, write the clips). Clip files are written under a temporary name and renamed, then the
input's record is written the same way: the record is the commit point. A re-run skips every
input whose record matches the recipe and the source file's size and modification time, so an interrupted run
loses at most the inputs in flight; temporary files left by a killed run are deleted on the next start.

Inputs that cannot be used (unreadable, corrupt, truncated, audio-only, not a video, no face, too short) are
skipped, never silently: the report lists each with its reason and the summary line counts them. A run that
ends with no usable clip raises DataError.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from motioncontent.data.cache import process_alive
from motioncontent.data.talking_heads.extract import TMP_MARK as _TMP
from motioncontent.data.talking_heads.extract import PreprocessSettings, process_input
from motioncontent.data.talking_heads.sources import InputItem, identity_of, list_inputs
from motioncontent.data.video_io import VideoError
from motioncontent.errors import DataError

__all__ = ["PreprocessSettings", "PreprocessResult", "preprocess", "default_workers", "process_input"]

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
REPORT_NAME = "report.txt"
CACHE_LAYOUT = """\
dst/manifest.json      every usable clip: file, identity, source, frames, fps, size; skipped inputs and reasons
dst/report.txt         skipped inputs with reasons, and the summary line
dst/clips/KEY-J.npy    clip J of input KEY: uint8 (frames, size, size, 3), RGB
dst/records/KEY.json   what processing KEY gave (clips or the reason it was skipped); a re-run reads these
"""


def default_workers() -> int:
    """Half the cores, at most 4: decoding already uses a few threads per worker."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def default_cache_dir(src: str | Path, data_dir: str | Path = "data") -> Path:
    """Where the clips of `src` (a folder or a .txt list) go when no --dst / cache_dir is given."""
    return Path(data_dir) / "talking_heads" / Path(src).stem


# ---- records: the commit point of each input ------------------------------------------------------------------
def _source_stat(item: InputItem) -> list[int]:
    stat = item.path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.parent / f"{_TMP}{os.getpid()}-{path.name}"
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def _run_one(item: InputItem, settings: PreprocessSettings, dst: Path) -> dict[str, Any]:
    """Worker entry: process one input and commit its record; bad input becomes a `skipped` record."""
    record: dict[str, Any] = {"source": item.rel, "path": str(item.path), "kind": item.kind,
                              "recipe": settings.recipe()}
    try:
        record["stat"] = _source_stat(item)
        record.update(status="ok", **process_input(item, settings, dst))
    except VideoError as error:
        _remove_partial(item, dst)
        record.update(status="skipped", reason=str(error))
    except Exception as error:  # a bug or an exotic file: report it, keep no record so a re-run retries
        _remove_partial(item, dst)
        log.debug("unexpected error on %s", item.rel, exc_info=True)
        return {**record, "status": "skipped", "reason": f"unexpected error {type(error).__name__}: {error}",
                "transient": True}
    _write_json(dst / "records" / f"{item.key}.json", record)
    return record


def _remove_partial(item: InputItem, dst: Path) -> None:
    """Clips this process wrote for an input that then failed (e.g. the second decoding pass broke off)."""
    for path in (dst / "clips").glob(f"{_TMP}{os.getpid()}-{item.key}-*.npy"):
        path.unlink(missing_ok=True)


def _is_done(item: InputItem, record: dict[str, Any] | None, recipe: dict[str, Any], dst: Path) -> bool:
    if not record or record.get("recipe") != recipe or record.get("source") != item.rel:
        return False
    try:
        if record.get("stat") != _source_stat(item):
            return False
    except OSError:
        return False
    return all((dst / c["file"]).is_file() and (dst / c["file"]).stat().st_size == c["bytes"]
               for c in record.get("clips", []))


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _forget(record: dict[str, Any] | None, dst: Path) -> None:
    """Delete the clips of an outdated record (a re-run with another recipe, or a changed source)."""
    for clip in (record or {}).get("clips", []):
        (dst / clip["file"]).unlink(missing_ok=True)


# ---- the run --------------------------------------------------------------------------------------------------
class _Lock:
    """dst/.lock holding the pid: two runs writing one cache would overwrite each other's clips."""

    def __init__(self, dst: Path):
        self.path = dst / ".lock"

    def __enter__(self) -> "_Lock":
        try:
            pid = int(self.path.read_text().strip())
        except (OSError, ValueError):
            pid = None
        if pid is not None and pid != os.getpid() and process_alive(pid):
            raise DataError(f"another preprocessing run (pid {pid}) is writing to {self.path.parent}")
        self.path.write_text(str(os.getpid()))
        return self

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)


def _remove_temporaries(dst: Path) -> int:
    """Files a killed run left half-written (the lock guarantees no live run owns them)."""
    stale = [p for folder in (dst / "clips", dst / "records", dst) for p in folder.glob(f"{_TMP}*")]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


@dataclass
class PreprocessResult:
    manifest: dict[str, Any]
    summary: str
    report: Path


def preprocess(src: str | Path, dst: str | Path, settings: PreprocessSettings = PreprocessSettings(),
               workers: int = 1, identity_level: int = 0, identity_regex: str | None = None,
               progress: bool = True) -> PreprocessResult:
    """Preprocess every input under (or listed in) src into the cache dst; see the module docstring. With workers > 1
    the inputs go to spawned processes, so a script that calls this needs the `if __name__ == "__main__":` guard."""
    listing = list_inputs(src)
    if not listing.items:
        raise DataError(f"no videos (mp4, mov, mkv, avi, webm) or frame folders (png, jpg) found in {src}")
    if settings.crop == "detect":
        from motioncontent.data.talking_heads.face_detect import import_mediapipe

        import_mediapipe()  # fail now with the install hint, not once per video
    dst = Path(dst)
    for folder in (dst, dst / "clips", dst / "records"):
        folder.mkdir(parents=True, exist_ok=True)
    with _Lock(dst):
        if removed := _remove_temporaries(dst):
            log.info("removed %d temporary files of an interrupted run", removed)
        return _run(listing, dst, settings, workers, identity_level, identity_regex, progress)


def _run(listing: Any, dst: Path, settings: PreprocessSettings, workers: int, identity_level: int,
         identity_regex: str | None, progress: bool) -> PreprocessResult:
    recipe = settings.recipe()
    results: dict[str, dict[str, Any]] = {}
    identities: dict[str, str] = {}
    todo: list[InputItem] = []
    for item in listing.items:
        identity = identity_of(item.rel, identity_level, identity_regex)
        if identity is None:
            results[item.key] = {"source": item.rel, "status": "skipped",
                                 "reason": f"identity regex {identity_regex!r} does not match the path"}
            continue
        identities[item.key] = identity
        record = _read_record(dst / "records" / f"{item.key}.json")
        if _is_done(item, record, recipe, dst):
            results[item.key] = {**record, "earlier": True}  # type: ignore[dict-item]
        else:
            _forget(record, dst)
            todo.append(item)

    bar = tqdm(total=len(todo), desc="talking heads", unit="video", disable=not progress or not todo,
               mininterval=1)
    if workers <= 1 or len(todo) <= 1:
        for item in todo:
            results[item.key] = _run_one(item, settings, dst)
            bar.update()
    else:
        # spawn, not Linux's default fork: a fork copies whatever locks the parent's other threads (torch's
        # OpenMP pool, loggers) hold at that instant, and a worker that inherits a held one never starts (CI saw two
        # workers wait 9 minutes at zero CPU time). Spawned workers start clean, for a second or two of imports.
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            pending: dict[Future, InputItem] = {}
            queue = iter(todo)
            try:
                for item in queue:  # at most 2 per worker in flight, so an interrupt loses little
                    pending[pool.submit(_run_one, item, settings, dst)] = item
                    if len(pending) >= 2 * workers:
                        done, _ = wait(pending, return_when=FIRST_COMPLETED)
                        for future in done:
                            results[pending.pop(future).key] = future.result()
                            bar.update()
                for future in list(pending):
                    results[pending.pop(future).key] = future.result()
                    bar.update()
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    bar.close()
    return _finish(listing, dst, settings, results, identities)


def _finish(listing: Any, dst: Path, settings: PreprocessSettings, results: dict[str, dict[str, Any]],
            identities: dict[str, str]) -> PreprocessResult:
    clips, skipped, used, earlier = [], [], 0, 0
    for item in listing.items:
        record = results[item.key]
        earlier += bool(record.get("earlier"))
        if record["status"] != "ok":
            skipped.append({"source": item.rel, "reason": record["reason"]})
            continue
        used += 1
        for clip in record["clips"]:
            clips.append({**clip, "identity": identities[item.key], "source": item.rel, "fps": settings.fps,
                          "size": settings.size})
    frames = sum(c["frames"] for c in clips)
    summary = (f"talking heads: {len(listing.items)} inputs -> {used} used ({len(clips)} clips, {frames} frames "
               f"at {settings.fps:g} fps, {settings.size} px, {len({c['identity'] for c in clips})} identities), "
               f"{len(skipped)} skipped"
               + (f" (see {dst / REPORT_NAME})" if skipped else "")
               + (f", {listing.ignored} other files ignored" if listing.ignored else "")
               + (f"; {earlier} done by an earlier run" if earlier else ""))
    manifest = {"format": "motioncontent.talking_heads", "recipe": settings.recipe(), "src": str(listing.root),
                "clips": clips, "skipped": skipped, "ignored_files": listing.ignored,
                "counts": {"inputs": len(listing.items), "used": used, "skipped": len(skipped), "clips": len(clips),
                           "frames": frames},
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    report = dst / REPORT_NAME
    lines = [f"# motioncontent data talking-heads, {manifest['created']}", f"# src: {listing.root}",
             f"# recipe: {json.dumps(settings.recipe())}",
             *(f"skipped {s['source']}: {s['reason']}" for s in skipped), summary]
    tmp = dst / f"{_TMP}{os.getpid()}-{REPORT_NAME}"
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, report)
    _write_json(dst / MANIFEST_NAME, manifest)
    if not clips:
        raise DataError(f"no usable clips: all {len(listing.items)} inputs were skipped (reasons in {report})")
    return PreprocessResult(manifest, summary, report)
