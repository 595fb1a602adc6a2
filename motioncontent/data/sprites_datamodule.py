"""SpritesDataModule: the Sprites benchmark (LPC art), the project's procedural sprites, or the standard arrays.

Every source is turned once into a verified uint8 cache under `data_dir` (see data/cache.py) and read back
through memory maps, so a second start costs a checksum pass, not a re-render. Batches are
`(video, labels)`: video float (B, T, C, H, W) in [-1, 1], labels a dict of int64 tensors (LABEL_NAMES).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import Dataset

from motioncontent.data.cache import MANIFEST, check_cache, load_or_build, read_manifest
from motioncontent.data.loaders import ClipLoaders
from motioncontent.data.mined_pairs import NO_PARTNER
from motioncontent.data.sprites import arrays, lpc
from motioncontent.data.sprites.factors import FRAME_SIZE, LABEL_NAMES, NUM_FRAMES, NUM_MOTIONS, character_split
from motioncontent.data.transforms import uint8_to_signed
from motioncontent.errors import DataError

SpritesSource = Literal["auto", "lpc", "procedural", "npy"]
# Bump when the cache layout or the LPC rendering changes; caches built by another version are rebuilt.
SPRITES_RECIPE_VERSION = 1
LPC_ROOT_ENV = "SPRITES_LPC"


class SpritesDataset(Dataset):
    """One split of a Sprites cache; item = (video (T, C, H, W) float in [-1, 1], {label: int})."""

    def __init__(self, directory: Path, split: str, indices: np.ndarray | None = None):
        self.video_path = arrays.video_file(directory, split)
        with np.load(arrays.labels_file(directory, split), allow_pickle=False) as labels:
            self.labels = {name: labels[name] for name in LABEL_NAMES}
        self.indices = np.arange(len(self.labels["motion"])) if indices is None else np.asarray(indices)
        self._video: np.ndarray | None = None

    @property
    def video(self) -> np.ndarray:
        # Opened lazily, per process: a memory map pickled into a spawned DataLoader worker would be copied whole.
        if self._video is None:
            self._video = np.load(self.video_path, mmap_mode="r", allow_pickle=False)
        return self._video

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_video": None}

    def __len__(self) -> int:
        return len(self.indices)

    def label(self, name: str) -> np.ndarray:
        """The `name` label of every item of this dataset, in item order (labels holds the whole split's)."""
        return self.labels[name][self.indices]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, int]]:
        j = self.indices[i]
        clip = torch.from_numpy(np.array(self.video[j])).permute(0, 3, 1, 2)  # (T, C, H, W) uint8
        return uint8_to_signed(clip), {name: int(self.labels[name][j]) for name in LABEL_NAMES}


class SameCharacterPairs(Dataset):
    """Videos of 2 x 8 frames: a clip, then a clip of the same character with a different motion (drawn anew on
    each access). A labelled variant (METHOD 8.2): it uses the character labels to join clips, as a long video of one
    subject naturally would; BCD's cross-driving then takes content from the first clip and motion from the second.
    Labels are those of the second clip (the one whose motion drives the reconstruction)."""

    def __init__(self, clips: SpritesDataset):
        self.clips = clips
        labels = {name: clips.label(name) for name in clips.labels}
        self.position = {(int(c), int(m)): k for k, (c, m) in enumerate(zip(labels["character"], labels["motion"]))}
        self.labels = labels

    def __len__(self) -> int:
        return len(self.clips)

    def partner_index(self, i: int) -> int:
        """The dataset index of a clip of item i's character with another motion, drawn at random."""
        character, motion = int(self.labels["character"][i]), int(self.labels["motion"][i])
        # torch's RNG: seeded per worker by Lightning, so runs with the same seed see the same pairs.
        others = [m for m in range(NUM_MOTIONS) if m != motion and (character, m) in self.position]
        if not others:
            raise DataError(f"character {character} has no clip with another motion to pair with")
        return self.position[(character, others[int(torch.randint(len(others), ()))])]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, int]]:
        first, _ = self.clips[i]
        second, labels = self.clips[self.partner_index(i)]
        return torch.cat([first, second]), labels


class PartnerContent(Dataset):
    """Clips whose first `split` frames (cross-driving's content segment) are, with probability `prob`, those of a
    partner clip, so content read in one motion must serve another. `partner` is a table (clips, P) of partner indices
    (mined without labels by callbacks/content_partners.py), one drawn at random on each access (NO_PARTNER entries
    are padding; a row of them keeps the clip's own), or None for the
    labelled diagnostic (METHOD 8.2): another motion of the same character, drawn anew on each access. Labelled pairs
    show what within-clip pairs cannot teach: a Sprites clip never turns, so self-supervised training never sees
    content from the front drive a side view."""

    def __init__(self, clips: Dataset, prob: float, partner: torch.Tensor | None = None,
                 split: int = NUM_FRAMES // 2):
        self.clips, self.prob, self.partner, self.split = clips, prob, partner, split
        self.same_character = SameCharacterPairs(clips) if partner is None else None

    def __len__(self) -> int:
        return len(self.clips)

    def partner_index(self, i: int) -> int:
        if self.same_character:
            return self.same_character.partner_index(i)
        partners = self.partner[i][self.partner[i] != NO_PARTNER]
        return int(partners[torch.randint(len(partners), ())]) if len(partners) else NO_PARTNER

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, int]]:
        clip, labels = self.clips[i]
        if float(torch.rand(())) < self.prob and (j := self.partner_index(i)) != NO_PARTNER:
            clip = torch.cat([self.clips[j][0][:self.split], clip[self.split:]])
        return clip, labels


class SpritesDataModule(ClipLoaders):
    """Sprites clips of 8 frames at 64x64 with motion and content labels.

    Args:
        source: `lpc` renders the real benchmark from the LPC layer PNGs at `lpc_root`; `procedural` renders the
            project's own pixel-art characters (no assets needed); `npy` imports the standard arrays
            `sprites_{X,A,D}_{train,test}.npy` from `npy_root`; `auto` takes `lpc` when the art or an LPC cache
            is there and `procedural` otherwise, saying so in one line.
        lpc_root: folder of LPC layer PNGs (body/ bottomwear/ topwear/ hair/ shoes/); default $SPRITES_LPC.
        npy_root: folder of the standard arrays, for `source: npy`.
        data_dir: where caches are written (`<data_dir>/sprites/<source>`).
        split_seed: seed of the character split (423 is the benchmark's: 9000 train / 2664 test sequences).
        render_seed: seed of the procedural renderer's small per-dataset variations.
        val_characters: 0 validates on the test characters, as the Sprites literature does; N > 0 holds out N
            training characters (all their motions) for validation and keeps the test split for the end.
        batch_size: clips per batch on each device.
        num_workers: DataLoader worker processes.
        pairing: `none` gives single 8-frame clips. `same_character` (a labelled variant, not self-supervised)
            gives 16-frame videos: a clip followed by another motion of the same character (SameCharacterPairs),
            for training and validation, so cross-driving gets content and motion from segments that move
            differently. Test and predict keep single clips.
        content_pairing_prob: with this probability a training clip's first half, the content segment of
            cross-driving, is taken from another motion of the same character (PartnerContent; a labelled variant, 0
            by default; callbacks/content_partners.py mines partners without labels instead). Validation, test and
            predict keep single clips.
    """

    num_frames = NUM_FRAMES
    image_size = FRAME_SIZE
    channels = 3
    # Sprites have no native frame rate; 8 fps (a usual sprite animation rate) is used only to express bits/frame
    # as kbps in logs.
    fps = 8.0

    def __init__(
        self,
        source: SpritesSource = "auto",
        lpc_root: str | None = None,
        npy_root: str | None = None,
        data_dir: str = "data",
        split_seed: int = 423,
        render_seed: int = 0,
        val_characters: int = 0,
        batch_size: int = 32,
        num_workers: int = 0,
        pin_memory: bool = False,
        pairing: Literal["none", "same_character"] = "none",
        content_pairing_prob: float = 0.0,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.lpc_root = lpc_root or os.environ.get(LPC_ROOT_ENV) or None
        self.npy_root = npy_root
        self.data_dir = Path(data_dir)
        self.split_seed = split_seed
        self.render_seed = render_seed
        self.val_characters = val_characters
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        if pairing not in ("none", "same_character"):
            raise DataError(f"unknown pairing '{pairing}'; choose none or same_character")
        if not 0.0 <= content_pairing_prob <= 1.0:
            raise DataError(f"content_pairing_prob must be in [0, 1], got {content_pairing_prob}")
        if content_pairing_prob > 0 and pairing != "none":
            raise DataError("content_pairing_prob pairs within 8-frame clips; it needs pairing: none")
        self.pairing, self.content_pairing_prob = pairing, content_pairing_prob
        self.num_frames = NUM_FRAMES * (2 if pairing == "same_character" else 1)
        self.source = self._resolve_source(source)
        self.manifest: dict[str, Any] | None = None

    # ---- which source, which cache ----------------------------------------------------------------------
    def _resolve_source(self, source: str) -> str:
        if source not in ("auto", "lpc", "procedural", "npy"):
            raise DataError(f"unknown Sprites source '{source}'; choose auto, lpc, procedural or npy")
        if source == "npy" and not self.npy_root:
            raise DataError("source 'npy' needs data.npy_root, the folder of sprites_{X,A,D}_{train,test}.npy")
        if source != "auto":
            return source
        if self.lpc_root or (self.data_dir / "sprites" / "lpc" / MANIFEST).is_file():
            return "lpc"
        rank_zero_info(
            f"Sprites: no LPC art (set data.lpc_root or ${LPC_ROOT_ENV}) and no LPC cache in "
            f"{self.data_dir / 'sprites' / 'lpc'}; using the procedural sprites instead."
        )
        return "procedural"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "sprites" / self.source

    def _recipe(self) -> dict[str, Any] | None:
        """What the cache must have been built from; None for an LPC cache whose art folder is not at hand."""
        recipe: dict[str, Any] = {"dataset": "sprites", "source": self.source, "version": SPRITES_RECIPE_VERSION}
        if self.source == "lpc":
            if not self.lpc_root:
                return None
            return {**recipe, "split_seed": self.split_seed, "inputs": lpc.lpc_fingerprint(lpc.check_lpc_root(self.lpc_root))}
        if self.source == "procedural":
            from motioncontent.data.sprites.procedural import PROCEDURAL_RECIPE_VERSION

            return {**recipe, "split_seed": self.split_seed, "render_seed": self.render_seed,
                    "renderer_version": PROCEDURAL_RECIPE_VERSION}
        root = arrays.check_standard_arrays(Path(self.npy_root))
        return {**recipe, "inputs": arrays.npy_fingerprint(root)}

    def _fill(self, directory: Path) -> dict[str, Any]:
        if self.source == "lpc":
            renderer = lpc.LPCRenderer(self.lpc_root)
            return arrays.render_splits(directory, renderer.render_character, self.split_seed, "LPC sprites")
        if self.source == "procedural":
            from motioncontent.data.sprites.procedural import ProceduralRenderer

            renderer = ProceduralRenderer(self.render_seed)
            return arrays.render_splits(directory, renderer.render_character, self.split_seed, "procedural sprites")
        return arrays.import_standard_arrays(directory, Path(self.npy_root))

    def prepare_data(self) -> None:
        """Build the cache if it is missing, stale or corrupt (runs on one process per node)."""
        recipe = self._recipe()
        if recipe is None:  # LPC cache without the art: it can still be checked against its own checksums
            self.manifest = self._verified_manifest()
            rank_zero_info(f"Sprites: using the LPC cache at {self.cache_dir} (no LPC art given to check it against).")
            return
        self.manifest = load_or_build(self.cache_dir, recipe, self._fill, f"Sprites ({self.source})")

    def _verified_manifest(self) -> dict[str, Any]:
        found = read_manifest(self.cache_dir)
        manifest, why = check_cache(self.cache_dir, (found or {}).get("recipe", {}))
        if manifest is None:
            raise DataError(f"Sprites cache at {self.cache_dir} is not usable ({why}); run prepare_data() first, "
                            f"or give data.lpc_root so it can be rebuilt")
        return manifest

    # ---- datasets and loaders ---------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.manifest is None:  # another process prepared the data (DDP), or a script skipped prepare_data
            self.manifest = self._verified_manifest()
        train = SpritesDataset(self.cache_dir, "train")
        self.test_set = SpritesDataset(self.cache_dir, "test")
        if self.val_characters > 0:
            held_out = np.random.RandomState(self.split_seed).permutation(np.unique(train.labels["character"]))
            is_val = np.isin(train.labels["character"], held_out[: self.val_characters])
            self.val_set = SpritesDataset(self.cache_dir, "train", np.flatnonzero(is_val))
            self.train_set = SpritesDataset(self.cache_dir, "train", np.flatnonzero(~is_val))
        else:
            self.train_set, self.val_set = train, self.test_set
        if self.pairing == "same_character":  # test and predict keep single clips: evaluation sees real clips
            self.train_set, self.val_set = SameCharacterPairs(self.train_set), SameCharacterPairs(self.val_set)
        if self.content_pairing_prob > 0:
            self.train_set = PartnerContent(self.train_set, self.content_pairing_prob)

    def summary(self) -> str:
        """A few lines on what was built: source, cache, counts, build time."""
        m = self.manifest or {}
        counts = m.get("counts", {})
        lines = [f"Sprites source: {self.source}", f"cache: {self.cache_dir}"]
        for split, c in counts.items():
            lines.append(f"{split}: {c['sequences']} sequences of {c['characters']} characters")
        if "build_seconds" in m:
            lines.append(f"built in {m['build_seconds']} s on {m.get('created', '?')}")
        if self.source in ("lpc", "procedural"):
            lines.append(f"character split seed: {self.split_seed} (first test ids: "
                         f"{', '.join(str(i) for i in character_split(self.split_seed)[1][:5])}, ...)")
        return "\n".join(lines)
