"""The dataset cache: verified on load, rebuilt when stale or corrupt, never left half-written."""

import json
import logging
import os

import numpy as np
import pytest

from motioncontent.data import cache


def _fill_with(values, calls=None, fail_after_first_file=False):
    def fill(directory):
        if calls is not None:
            calls.append(directory)
        np.save(directory / "a.npy", np.asarray(values, np.uint8))
        if fail_after_first_file:
            raise KeyboardInterrupt  # an interrupted build (Ctrl-C) after part of the output is written
        np.save(directory / "b.npy", np.arange(10))
        return {"items": len(values)}

    return fill


def test_build_then_load_without_rebuilding(tmp_path):
    calls = []
    target, recipe = tmp_path / "c", {"source": "x", "version": 1}
    first = cache.load_or_build(target, recipe, _fill_with([1, 2, 3], calls), "test")
    second = cache.load_or_build(target, recipe, _fill_with([1, 2, 3], calls), "test")
    assert len(calls) == 1 and first == second
    assert first["counts"] == {"items": 3} and set(first["files"]) == {"a.npy", "b.npy"}
    assert json.loads((target / "manifest.json").read_text())["recipe"] == recipe


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "manifest"])
def test_corrupt_cache_is_detected_and_rebuilt(tmp_path, damage, caplog):
    target, recipe = tmp_path / "c", {"v": 1}
    cache.load_or_build(target, recipe, _fill_with([1, 2, 3]), "test")
    a = target / "a.npy"
    if damage == "flip":
        data = bytearray(a.read_bytes())
        data[-1] ^= 0xFF
        a.write_bytes(bytes(data))
    elif damage == "truncate":
        a.write_bytes(a.read_bytes()[:-1])
    elif damage == "delete":
        a.unlink()
    else:
        (target / "manifest.json").write_text("{not json")
    manifest, why = cache.check_cache(target, recipe)
    assert manifest is None and why
    calls = []
    with caplog.at_level(logging.WARNING):
        cache.load_or_build(target, recipe, _fill_with([1, 2, 3], calls), "test")
    assert len(calls) == 1 and "Rebuilding the test cache" in caplog.text
    assert np.load(a).tolist() == [1, 2, 3]


def test_stale_recipe_is_rebuilt_and_the_reason_named(tmp_path):
    target = tmp_path / "c"
    cache.load_or_build(target, {"version": 1, "seed": 0}, _fill_with([1]), "test")
    manifest, why = cache.check_cache(target, {"version": 2, "seed": 0})
    assert manifest is None and "version" in why and "seed" not in why
    cache.load_or_build(target, {"version": 2, "seed": 0}, _fill_with([7, 7]), "test")
    assert np.load(target / "a.npy").tolist() == [7, 7]


def test_interrupted_build_leaves_nothing_behind(tmp_path):
    target = tmp_path / "c"
    with pytest.raises(KeyboardInterrupt):
        cache.load_or_build(target, {"v": 1}, _fill_with([1], fail_after_first_file=True), "test")
    assert list(tmp_path.iterdir()) == []
    # An interrupted rebuild keeps the previous cache intact.
    cache.load_or_build(target, {"v": 1}, _fill_with([5]), "test")
    with pytest.raises(KeyboardInterrupt):
        cache.build_cache(target, {"v": 2}, _fill_with([6], fail_after_first_file=True))
    assert [p.name for p in tmp_path.iterdir()] == ["c"]
    assert cache.check_cache(target, {"v": 1})[0] is not None


def test_folder_of_a_killed_build_is_removed(tmp_path):
    # A SIGKILLed build cannot clean up after itself; the next build removes its folder (its pid is gone).
    dead_pid = 2**22 + 12345
    with pytest.raises(ProcessLookupError):
        os.kill(dead_pid, 0)
    leftover = tmp_path / f"c.tmp-{dead_pid}-abcdef12"
    leftover.mkdir()
    (leftover / "a.npy").write_bytes(b"partial")
    cache.load_or_build(tmp_path / "c", {"v": 1}, _fill_with([1]), "test")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]
