"""The Sprites evaluation: judge metrics, the swap pairing, linear probes, and the swap benchmark's bookkeeping
(checked with oracle models that are perfectly disentangled, or that leak motion into content)."""

import hashlib
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from motioncontent.data.sprites.factors import action_and_direction, facing_change
from motioncontent.data.sprites_datamodule import SpritesDataset
from motioncontent.data.transforms import signed_to_uint8
from motioncontent.eval.judge_metrics import balance_by_class, inception_metrics
from motioncontent.eval.probes import leakage_probes, linear_probe
from motioncontent.eval.sprites_swap import swap_benchmark, swap_pairing
from motioncontent.models.judge import JUDGE_HEADS
from test_cli import run

ATTRS = ("skin", "pants", "top", "hair")


def test_inception_metrics_reach_their_ceilings_and_floors():
    labels = torch.arange(9).repeat(10)
    perfect = inception_metrics(F.one_hot(labels, 9).double(), labels)
    assert perfect["acc"] == 1.0 and perfect["is"] == pytest.approx(9.0, rel=1e-6)
    assert perfect["h_y_given_x"] == pytest.approx(0.0, abs=1e-9) and perfect["h_y"] == pytest.approx(math.log(9))
    uniform = inception_metrics(torch.full((90, 9), 1 / 9), labels)
    assert uniform["is"] == pytest.approx(1.0) and uniform["h_y_given_x"] == pytest.approx(math.log(9))
    collapsed = inception_metrics(F.one_hot(torch.zeros(90, dtype=torch.long), 9).double(), labels)
    assert collapsed["acc"] == pytest.approx(1 / 9) and collapsed["is"] == pytest.approx(1.0) and collapsed["h_y"] < 1e-9


def test_class_balancing_keeps_the_first_n_of_every_class():
    labels = torch.tensor([0, 1, 1, 2, 0, 2, 2, 1])
    assert balance_by_class(labels, 3).tolist() == [0, 1, 2, 3, 4, 5]


def test_swap_pairing_partners_differ_in_character_and_motion_and_are_seeded():
    characters, motions = np.repeat(np.arange(20), 9), np.tile(np.arange(9), 20)
    pairs = swap_pairing(characters, motions, seed=3)
    assert (characters[pairs] != characters).all() and (motions[pairs] != motions).all()
    assert (pairs == swap_pairing(characters, motions, seed=3)).all()
    assert (pairs != swap_pairing(characters, motions, seed=4)).any()
    with pytest.raises(ValueError, match="two characters"):
        swap_pairing(np.zeros(4, int), np.arange(4))


def test_linear_probe_separates_what_is_linear_and_not_noise():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 6, (600,), generator=g)
    x = F.one_hot(y, 6).float() + 0.3 * torch.randn(600, 6, generator=g)
    assert linear_probe(x[:400], y[:400], x[400:], y[400:], 6) > 0.95
    noise = torch.randn(600, 20, generator=g)
    assert linear_probe(noise[:400], y[:400], noise[400:], y[400:], 6) < 0.3


class OracleSprites(torch.nn.Module):
    """A 'model' and a 'judge' that know the datasets by heart: encode finds a clip's labels (content = one-hot
    motion and attributes + the character id, codes = the motion), decode renders (content's character, codes'
    motion) by looking the clip up in the first dataset. leaky=True takes the motion from the content instead;
    facing_blind=True draws another character whenever the codes face another way than the content clip, and
    facing_blind="turn" only when one of the two faces front (a turn, not a mirror image)."""

    def __init__(self, *datasets, leaky=False, facing_blind=False):
        super().__init__()
        self.dataset, self.leaky, self.facing_blind = datasets[0], leaky, facing_blind
        self.dummy = torch.nn.Parameter(torch.zeros(1))  # the benchmark finds the device through parameters
        self.labels_of = {}
        for dataset in datasets:
            labels = {name: dataset.label(name) for name in dataset.labels}
            for k in range(len(dataset)):
                self.labels_of[self._hash(dataset[k][0])] = {name: int(v[k]) for name, v in labels.items()}
        first = [self.labels_of[self._hash(self.dataset[k][0])] for k in range(len(self.dataset))]
        self.by_factors = {(lab["character"], lab["motion"]): k for k, lab in enumerate(first)}
        characters = sorted({lab["character"] for lab in first})
        self.other_character = dict(zip(characters, characters[1:] + characters[:1]))
        self.target_bits, self.capacity_bits, self.device = 3.17, 3.17, torch.device("cpu")

    @staticmethod
    def _hash(video):
        return hashlib.sha1(signed_to_uint8(video).numpy().tobytes()).hexdigest()

    def networks(self):
        return SimpleNamespace(quantizer=SimpleNamespace(codebook_size=9))

    def _labels(self, video):
        return [self.labels_of[self._hash(v)] for v in video]

    def encode(self, video):
        labels = self._labels(video)
        content = torch.stack([torch.cat([*(F.one_hot(torch.tensor(lab[n]), c).float() for n, c in JUDGE_HEADS.items()),
                                          torch.tensor([float(lab["character"])])]) for lab in labels])[:, None]
        codes = torch.tensor([lab["motion"] for lab in labels])[:, None, None].expand(-1, video.shape[1], 1)
        return content, codes

    def decode(self, content, codes, steps=None, seed=0):
        characters = content[:, 0, -1].long()
        motions = content[:, 0, :9].argmax(1) if self.leaky else codes[:, 0, 0]
        if self.facing_blind:
            facing = action_and_direction(content[:, 0, :9].argmax(1))[1]
            driving_facing = action_and_direction(codes[:, 0, 0])[1]
            turned = facing_change(facing, driving_facing)["turned" if self.facing_blind == "turn" else "different"]
            characters = [self.other_character[int(c)] if t else int(c) for c, t in zip(characters, turned)]
        return torch.stack([self.dataset[self.by_factors[(int(c), int(m))]][0] for c, m in zip(characters, motions)])

    def forward(self, video):  # the judge: confident logits of the true labels
        labels = self._labels(video)
        return {n: 10.0 * F.one_hot(torch.tensor([lab[n] for lab in labels]), c).float() for n, c in JUDGE_HEADS.items()}


@pytest.fixture(scope="module")
def test_subset(lpc_datamodule):
    """All 9 motions of the first 12 test characters."""
    test = lpc_datamodule.test_set
    characters = np.asarray(test.labels["character"])
    keep = np.flatnonzero(np.isin(characters, np.unique(characters)[:12]))
    return SpritesDataset(lpc_datamodule.cache_dir, "test", keep)


def test_swap_benchmark_scores_a_disentangled_oracle_at_the_ceiling(test_subset):
    oracle = OracleSprites(test_subset)
    figures = swap_benchmark(oracle, oracle, test_subset, limit=60, batch_size=16)
    assert figures["clips"] == 60 and figures["motion_swap"]["acc"] == 1.0
    assert figures["action_swap_acc"] == figures["direction_swap_acc"] == 1.0
    assert figures["motion_of_content_clip"] == 0.0
    assert figures["motion_swap"]["is"] > 8.8 and figures["motion_swap"]["h_y"] == pytest.approx(math.log(9), abs=1e-3)
    assert figures["attributes_joint_swap_acc"] == 1.0 and all(figures[f"{a}_swap_acc"] == 1.0 for a in ATTRS)
    assert all(v == 1.0 for v in figures["judge_on_reconstruction"].values())
    assert figures["reconstruction_psnr"] == 100.0 and figures["reconstruction_ssim"] == pytest.approx(1.0)
    assert figures["bits_per_frame"] == pytest.approx(math.log2(9), abs=0.1)  # 60 clips spread over 9 motions
    assert all(group["joint"] == 1.0 for group in figures["attributes_by_facing"].values())


def test_swap_benchmark_splits_attributes_by_whether_the_facing_changes(test_subset):
    blind = OracleSprites(test_subset, facing_blind=True)
    figures = swap_benchmark(blind, blind, test_subset, limit=60, batch_size=16)
    same, different = figures["attributes_by_facing"]["same"], figures["attributes_by_facing"]["different"]
    assert same == {name: 1.0 for name in (*ATTRS, "joint")}
    assert different["joint"] < 0.2  # another character's appearance: all four rarely match
    directions = test_subset.label("direction")
    partners = swap_pairing(test_subset.label("character"), test_subset.label("motion"))[:60]
    share = np.mean(directions[:60] == directions[partners])
    assert 0 < share < 1
    assert figures["attributes_joint_swap_acc"] == pytest.approx(share + (1 - share) * different["joint"])


def test_swap_benchmark_tells_a_mirrored_facing_from_a_turned_one(test_subset):
    turn_blind = OracleSprites(test_subset, facing_blind="turn")
    figures = swap_benchmark(turn_blind, turn_blind, test_subset, limit=60, batch_size=16)
    by_facing = figures["attributes_by_facing"]
    assert by_facing["same"]["joint"] == by_facing["mirrored"]["joint"] == 1.0  # left <-> right drawn right
    assert by_facing["turned"]["joint"] < 0.2
    assert by_facing["mirrored"]["joint"] > by_facing["different"]["joint"] > by_facing["turned"]["joint"]


def test_swap_benchmark_catches_motion_carried_by_content(test_subset):
    leaky = OracleSprites(test_subset, leaky=True)
    figures = swap_benchmark(leaky, leaky, test_subset, limit=60, batch_size=16)
    assert figures["motion_swap"]["acc"] == 0.0  # every partner has another motion, so copying it is always wrong
    assert figures["motion_of_content_clip"] == 1.0
    # each pair differs in motion, so in action, direction or both: the leak is right on whichever part it shares
    actions = test_subset.label("action")
    partners = swap_pairing(test_subset.label("character"), test_subset.label("motion"))[:60]
    same_action = np.mean(actions[:60] == actions[partners])
    assert figures["action_swap_acc"] == pytest.approx(same_action) and figures["action_swap_acc"] < 1.0
    assert figures["attributes_joint_swap_acc"] == 1.0


def test_leakage_probes_see_what_each_channel_carries(test_subset, lpc_datamodule):
    train_subset = SpritesDataset(lpc_datamodule.cache_dir, "train", np.arange(0, len(lpc_datamodule.train_set), 10))
    probes = leakage_probes(OracleSprites(test_subset, train_subset), train_subset, test_subset)
    assert probes["content_to_motion"] == {"accuracy": 1.0, "chance": 1 / 9}  # this content holds the motion one-hot
    for a in ATTRS:  # and its codes hold only the motion
        assert probes[f"motion_codes_to_{a}"]["accuracy"] < 0.35 and probes[f"motion_codes_to_{a}"]["chance"] == 1 / 6


def test_eval_command_needs_a_checkpoint_and_a_judge(tmp_path):
    result = run("eval", "sprites", "--config", "configs/sprites.yaml", "--ckpt_path", str(tmp_path / "none.ckpt"))
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        f"motioncontent: error: BCD checkpoint (--ckpt_path) not found: {tmp_path / 'none.ckpt'}; "
        "train one with `make train-sprites`"]
    (tmp_path / "model.ckpt").write_bytes(b"")
    result = run("eval", "sprites", "--config", "configs/sprites.yaml", "--ckpt_path", str(tmp_path / "model.ckpt"),
                 "--judge", str(tmp_path / "judge.ckpt"))
    assert result.returncode == 2 and "judge checkpoint (--judge) not found" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
