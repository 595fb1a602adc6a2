"""The talking-head evaluation: metric pieces with known answers, the benchmark's bookkeeping checked with oracle
generators (one that copies the driving clip, one that copies the content clip) and an oracle judge, mediapipe's
mesh keypoint distance, the judge learning on a tiny synthetic set, and the `eval talking-heads` command."""

from __future__ import annotations

import hashlib
import inspect
import json
import time

import lightning
import numpy as np
import pytest
import torch
import yaml
from test_cli import run
from tiny_models import TINY_BCD, tiny_bcd

from motioncontent.data import TalkingHeadDataModule
from motioncontent.data.talking_heads.synthetic_faces import IDENTITY_FACTORS, IDENTITY_OPTIONS
from motioncontent.data.transforms import signed_to_uint8
from motioncontent.eval.frame_metrics import frame_metrics
from motioncontent.eval.landmarks import (LEFT_EYE_OUTER, RIGHT_EYE_OUTER, FaceMeshLandmarks, landmark_distance,
                                          landmark_status, normalise_landmarks)
from motioncontent.eval.talking_heads import (motion_factor_errors, nearest_identity,
                                              talking_head_benchmark, transfer_pairing)
from motioncontent.systems.talking_head_judge import TalkingHeadJudgeModule, load_talking_head_judge

SMALL = dict(num_identities=12, clips_per_identity=2, clip_frames=16, num_frames=8, batch_size=8,
             val_fraction=0.1, test_fraction=0.34)


def _data(tmp_path_factory, size):
    dm = TalkingHeadDataModule(data_dir=str(tmp_path_factory.mktemp(f"data{size}")), image_size=size, **SMALL)
    dm.prepare_data()
    dm.setup("fit")
    return dm


@pytest.fixture(scope="module")
def heads32(tmp_path_factory):
    return _data(tmp_path_factory, 32)


@pytest.fixture(scope="module")
def heads64(tmp_path_factory):
    return _data(tmp_path_factory, 64)


# ---- pieces -----------------------------------------------------------------------------------------------------
def test_transfer_pairing_takes_another_person_and_is_seeded():
    people = np.repeat(np.arange(6), 3)
    pairs = transfer_pairing(people, seed=1)
    assert (people[pairs] != people).all()
    assert (pairs == transfer_pairing(people, seed=1)).all() and (pairs != transfer_pairing(people, seed=2)).any()
    with pytest.raises(ValueError, match="two people"):
        transfer_pairing(np.zeros(3, int))


def test_eval_reads_a_talking_head_config_with_the_talking_head_split():
    """The command scores the people `fit` held out: the data defaults are the talking-head module's, not Sprites'."""
    from motioncontent.cli.evaluate import _talking_heads_parser

    data = _talking_heads_parser().parse_args(["--config", "configs/talking_heads.yaml"]).data
    assert data.class_path == "motioncontent.data.TalkingHeadDataModule"
    default = inspect.signature(TalkingHeadDataModule).parameters["split_seed"].default
    assert data.init_args.split_seed == default == 0


def test_frame_metrics_on_known_differences():
    video = torch.rand(2, 3, 3, 16, 16) * 1.6 - 0.8
    same = frame_metrics(video, video)
    assert same["l1"].shape == (6,) and same["l1"].max() == 0
    assert torch.allclose(same["psnr"], torch.full((6,), 100.0)) and torch.allclose(same["ssim"], torch.ones(6))
    shifted = frame_metrics(video + 0.2, video)  # 0.1 in [0, 1] everywhere: L1 0.1, PSNR 20 dB
    assert torch.allclose(shifted["l1"], torch.full((6,), 0.1), atol=1e-6)
    assert torch.allclose(shifted["psnr"], torch.full((6,), 20.0), atol=1e-4)
    assert (shifted["ssim"] < 1).all()


def test_nearest_identity_never_matches_the_excluded_clip():
    # Person 0 has clips 0 and 1, person 1 has clip 2. A query identical to clip 0 is person 0 through clip 1...
    gallery = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    identity, clips = torch.tensor([0, 0, 1]), torch.tensor([0, 1, 2])
    assert nearest_identity(gallery[:1], torch.tensor([0]), gallery, identity, clips).tolist() == [0]
    # ... but if clip 1 is far from it, leaving clip 0 out makes person 1 the nearer one.
    gallery[1] = torch.tensor([-1.0, 0.0])
    assert nearest_identity(gallery[:1], torch.tensor([0]), gallery, identity, clips).tolist() == [1]
    assert nearest_identity(gallery[:1], torch.tensor([7]), gallery, identity, clips).tolist() == [0]


def test_motion_factor_errors_are_per_factor_and_normalised():
    truth = torch.zeros(4, 5, 8)
    predicted = truth + torch.arange(8.0)
    errors = motion_factor_errors(predicted, truth, scale=torch.full((8,), 2.0))
    assert errors["mae"]["yaw"] == 0 and errors["mae"]["shift_y"] == 7
    assert errors["normalised"] == pytest.approx(np.mean(np.arange(8) / 2))


def test_landmark_normalisation_removes_position_and_scale():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(5, 468, 2))
    points[:, RIGHT_EYE_OUTER], points[:, LEFT_EYE_OUTER] = [-1.0, 0.0], [1.0, 0.0]  # inter-ocular distance 2
    moved = 3.0 * points + np.array([10.0, -4.0])
    assert np.allclose(normalise_landmarks(points), normalise_landmarks(moved))
    norm = normalise_landmarks(points)
    assert np.allclose(norm.mean(axis=1), 0) and np.allclose(norm[0, 1], (points[0, 1] - points[0].mean(0)) / 2)
    points[2] = np.nan  # a frame without a face: skipped, the others keep the clip's scale
    norm = normalise_landmarks(points)
    assert np.isnan(norm[2]).all() and np.allclose(norm[0], (points[0] - points[0].mean(0)) / 2)
    distance = landmark_distance(norm, norm + np.array([0.3, 0.4]))
    assert np.allclose(distance[[0, 1, 3, 4]], 0.5) and np.isnan(distance[2])
    assert np.isnan(normalise_landmarks(np.full((3, 468, 2), np.nan))).all()


# ---- the benchmark with oracles ---------------------------------------------------------------------------------
def _key(video):
    return hashlib.sha1(signed_to_uint8(video).numpy().tobytes()).hexdigest()


class OracleJudge(torch.nn.Module):
    """Knows every test window by heart: embedding = one-hot person, motion = the true factors, identity factors =
    one-hot true labels. Any other video is an error (the oracle generators only copy real windows)."""

    def __init__(self, dataset):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))  # the benchmark finds the device through parameters
        people = sorted({c.identity for c in dataset.clip_refs})
        self.known = {}
        for i in range(len(dataset)):
            video, labels = dataset[i]
            person = people.index(dataset.clip_refs[labels["clip"]].identity)
            out = {"embedding": torch.nn.functional.one_hot(torch.tensor(person), len(people)).float(),
                   "motion": labels["factors"]}
            for name in IDENTITY_FACTORS:
                out[f"factor/{name}"] = torch.nn.functional.one_hot(torch.tensor(labels[name]),
                                                                    IDENTITY_OPTIONS[name]).float()
            self.known[_key(video)] = out

    def forward(self, video):
        outs = [self.known[_key(v)] for v in video]
        return {name: torch.stack([o[name] for o in outs]) for name in outs[0]}


class CopyDriving:
    """Perfect motion, no identity: the 'transfer' is the driving clip itself."""

    def transfer(self, content_video, motion_video, steps=None, seed=0):
        return motion_video.clone()

    def reconstruct(self, video, steps=None, seed=0):
        return video.clone()


class CopyContent(CopyDriving):
    """Perfect identity, no motion transfer: the 'transfer' is the content clip."""

    def transfer(self, content_video, motion_video, steps=None, seed=0):
        return content_video.clone()


def test_copying_the_driving_clip_scores_perfect_motion_and_the_wrong_person(heads32):
    test = heads32.test_set
    figures = talking_head_benchmark(CopyDriving(), OracleJudge(test), test, batch_size=3)
    assert figures["windows"] == len(test) == 10 and figures["people"] == 5 and figures["chance_identity"] == 0.2
    assert figures["reconstruction"] == {"l1": 0.0, "psnr": 100.0, "ssim": pytest.approx(1.0)}
    assert figures["identity"]["real"]["accuracy"] == 1.0 and figures["identity"]["recon"]["accuracy"] == 1.0
    assert figures["identity"]["transfer"] == {"accuracy": 0.0, "recognised_as_driving": 1.0}
    motion = figures["motion_factors"]
    assert motion["transfer_vs_driving"]["normalised"] == 0.0 and motion["recon_vs_own"]["normalised"] == 0.0
    assert motion["transfer_vs_content"]["normalised"] == motion["reference_content_vs_driving"]["normalised"] > 0.5
    assert 0.5 < motion["reference_mean_predictor"]["normalised"] < 1.0  # mean |x - mean| / std of each factor
    factors = figures["identity_factors"]
    assert factors["transfer_vs_driving"]["joint"] == 1.0 and factors["recon_vs_own"]["joint"] == 1.0
    assert factors["transfer_vs_content"]["joint"] < 1.0  # people of this set differ in at least one factor
    assert "mesh_keypoints" not in figures  # no landmark model given


def test_copying_the_content_clip_scores_the_right_person_and_large_motion_error(heads32):
    test = heads32.test_set
    figures = talking_head_benchmark(CopyContent(), OracleJudge(test), test, batch_size=4, seed=3)
    assert figures["identity"]["transfer"] == {"accuracy": 1.0, "recognised_as_driving": 0.0}
    motion = figures["motion_factors"]
    assert motion["transfer_vs_content"]["normalised"] == 0.0
    assert motion["transfer_vs_driving"]["normalised"] == motion["reference_content_vs_driving"]["normalised"] > 0.5
    assert figures["identity_factors"]["transfer_vs_content"]["joint"] == 1.0


def test_mesh_keypoint_distance_is_zero_for_the_driving_clip_and_large_for_the_content_clip(heads64):
    ok, why = landmark_status()
    if not ok:
        pytest.skip(f"mediapipe's face mesh does not run here: {why}")
    test, mesh = heads64.test_set, FaceMeshLandmarks()
    judge = OracleJudge(test)
    copy_driving = talking_head_benchmark(CopyDriving(), judge, test, limit=4, landmarks=mesh, landmark_stride=4)
    marks = copy_driving["mesh_keypoints"]
    assert marks["face_found"] == {"real": 1.0, "recon": 1.0, "transfer": 1.0}  # the cartoon faces are found
    assert marks["transfer_vs_driving"] == 0.0 and marks["recon_vs_own"] == 0.0
    copy_content = talking_head_benchmark(CopyContent(), judge, test, limit=4, landmarks=mesh, landmark_stride=4)
    marks = copy_content["mesh_keypoints"]
    assert marks["transfer_vs_driving"] == marks["reference_content_vs_driving"] > 0.02


# ---- the judge learns -------------------------------------------------------------------------------------------
def test_judge_learns_motion_and_identity_on_a_tiny_set_quickly(heads32, tmp_path):
    started = time.process_time()  # CPU time: the limit must not depend on what else shares the machine
    torch.manual_seed(0)
    module = TalkingHeadJudgeModule(image_size=32, width=8, frame_dim=64, embed_dim=32, lr=3e-3)
    heads32.batch_size = 8
    trainer = lightning.Trainer(accelerator="cpu", max_steps=150, logger=False, enable_checkpointing=False,
                                enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                                limit_val_batches=0)
    trainer.fit(module, datamodule=heads32)
    assert module.hparams.num_people == 12 and sorted(module.train_identities) == heads32.splits["train"]
    train = heads32.train_set
    videos, labels = zip(*(train[i] for i in range(len(train))))
    module.eval()
    with torch.no_grad():
        out = module(torch.stack(videos))
    truth = torch.stack([lab["factors"] for lab in labels])
    scale = truth.flatten(0, 1).std(0)
    learnt = motion_factor_errors(out["motion"], truth, scale)["normalised"]
    constant = motion_factor_errors(truth.flatten(0, 1).mean(0).expand_as(truth), truth, scale)["normalised"]
    assert learnt < 0.6 * constant, (learnt, constant)
    person = torch.tensor([lab["character"] for lab in labels])
    assert (out["identity_logits"].argmax(1) == person).double().mean() > 0.5  # 5 training people: chance 1/5
    assert time.process_time() - started < 30

    path = tmp_path / "judge.ckpt"
    trainer.save_checkpoint(path)
    loaded = load_talking_head_judge(str(path))
    assert loaded.train_identities == module.train_identities and not loaded.training
    with torch.no_grad():
        assert torch.allclose(loaded(torch.stack(videos[:2]))["motion"], out["motion"][:2], atol=1e-5)


# ---- the command ------------------------------------------------------------------------------------------------
def _config(tmp_path, data_dir):
    config = {"data": {"class_path": "motioncontent.data.TalkingHeadDataModule",
                       "init_args": {"data_dir": str(data_dir), "image_size": 32, **SMALL}}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _untrained_judge(path, train_identities):
    module = TalkingHeadJudgeModule(num_people=12, image_size=32, width=8, frame_dim=32, embed_dim=16)
    module.train_identities = train_identities
    hparams = {**module.hparams, "_class_path": "motioncontent.systems.TalkingHeadJudgeModule"}
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": hparams,
                "judge_train_identities": train_identities, "pytorch-lightning_version": lightning.__version__}, path)
    return path


def test_eval_command_writes_json_and_markdown(heads32, tmp_path):
    assert TINY_BCD["image_size"] == 32
    bcd = tiny_bcd(tmp_path / "bcd.ckpt")
    judge = _untrained_judge(tmp_path / "judge.ckpt", heads32.splits["train"])
    config = _config(tmp_path, heads32.data_dir)
    result = run("eval", "talking-heads", "--config", str(config), "--ckpt_path", str(bcd), "--judge", str(judge),
                 "--out", str(tmp_path / "out"), "--log_dir", str(tmp_path / "tb"), "--landmarks", "off",
                 "--limit", "6", "--guidance", "2", "--guidance_interval", "[0.5, 10]", timeout=300)
    assert result.returncode == 0, result.stderr
    figures = json.loads((tmp_path / "out" / "talking_heads_eval.json").read_text())
    assert figures["windows"] == 6 and figures["mesh_keypoints"] == {"available": False,
                                                                     "reason": "turned off (--landmarks off)"}
    assert 0 <= figures["identity"]["transfer"]["accuracy"] <= 1 and figures["reconstruction"]["psnr"] > 0
    assert set(figures["motion_factors"]["transfer_vs_driving"]["mae"]) >= {"yaw", "mouth_open"}
    markdown = (tmp_path / "out" / "talking_heads_eval.md").read_text()
    assert "identity accuracy (recognised as the content person)" in markdown and "mesh keypoint distance" in markdown
    assert (figures["guidance"], figures["guidance_interval"]) == (2.0, [0.5, 10.0])  # the sampling is on record
    assert "content guidance 2 at 0.5 < sigma <= 10" in markdown.splitlines()[0]


def test_eval_command_refuses_a_judge_that_saw_the_test_people(heads32, tmp_path):
    bcd = tiny_bcd(tmp_path / "bcd.ckpt")
    judge = _untrained_judge(tmp_path / "judge.ckpt", heads32.splits["train"] + heads32.splits["test"][:1])
    result = run("eval", "talking-heads", "--config", str(_config(tmp_path, heads32.data_dir)), "--ckpt_path",
                 str(bcd), "--judge", str(judge), "--landmarks", "off", timeout=300)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "the judge was trained on 1 of the test people" in result.stderr
