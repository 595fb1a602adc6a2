"""Shared fixtures. The LPC art is read from ../shared/lpc_assets beside the checkout (never copied in)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LPC_ASSETS = Path(os.environ.get("SPRITES_LPC_TEST_ROOT", REPO.parent / "shared" / "lpc_assets"))


def codec_callbacks_into(config: str, folder: Path) -> Path:
    """A config file holding `config`'s trainer callbacks with the named codec checkpoint written into `folder`
    instead of checkpoints/, to stack after `config` so a test's codec run leaves the checkout alone."""
    import yaml

    callbacks = yaml.safe_load(open(REPO / config))["trainer"]["callbacks"]
    for callback in callbacks:
        if callback.get("init_args", {}).get("dirpath") == "checkpoints":
            callback["init_args"]["dirpath"] = str(folder / "checkpoints")
    path = folder / "callbacks.yaml"
    path.write_text(yaml.safe_dump({"trainer": {"callbacks": callbacks}}))
    return path


@pytest.fixture(autouse=True)
def _no_user_lpc_env(monkeypatch):
    """Tests choose their source explicitly; a developer's $SPRITES_LPC must not change what they see."""
    monkeypatch.delenv("SPRITES_LPC", raising=False)


@pytest.fixture(scope="session")
def lpc_root() -> Path:
    if not (LPC_ASSETS / "body" / "0.png").is_file():
        pytest.skip(f"LPC layer PNGs not found at {LPC_ASSETS} (set SPRITES_LPC_TEST_ROOT)")
    return LPC_ASSETS


@pytest.fixture(scope="session")
def lpc_datamodule(lpc_root, tmp_path_factory):
    """The full LPC benchmark built once for the session (about 10 s, 1.15 GB on disk)."""
    from motioncontent.data import SpritesDataModule

    dm = SpritesDataModule(source="lpc", lpc_root=str(lpc_root), data_dir=str(tmp_path_factory.mktemp("data")))
    dm.prepare_data()
    dm.setup("fit")
    return dm
