"""The motion prior: exact factorisation (teacher forcing = group-by-group), it learns structure a uniform model
cannot, and MotionPriorModule trains on a frozen BCD model's codes and reports bits per frame."""

from __future__ import annotations

import math

import lightning
import pytest
import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, TensorDataset

from motioncontent.models.prior import MotionPrior, PriorConfig
from tiny_models import TINY_BCD, tiny_bcd

CFG = PriorConfig(num_groups=3, codebook_size=5, content_tokens=2, content_dim=4, max_frames=16, dim=32, depth=2,
                  heads=2)


def test_teacher_forcing_matches_group_by_group_probabilities():
    torch.manual_seed(0)
    prior = MotionPrior(CFG).eval()
    content, codes = torch.randn(2, 2, 4), torch.randint(0, 5, (2, 6, 3))
    with torch.no_grad():
        parallel = prior(content, codes).softmax(dim=-1)  # (B, T, N, E)
        for t in range(codes.shape[1]):
            h = prior.frame_state(content, codes[:, :t])
            prefix = torch.zeros_like(h)
            for i in range(3):
                torch.testing.assert_close(prior.group_probs(h, prefix, i), parallel[:, t, i], atol=1e-5, rtol=1e-4)
                prefix = prefix + prior.head.code_emb[i, codes[:, t, i]]


def test_group_i_does_not_see_its_own_or_later_codes():
    torch.manual_seed(0)
    prior = MotionPrior(CFG).eval()
    content, codes = torch.randn(1, 2, 4), torch.randint(0, 5, (1, 4, 3))
    changed = codes.clone()
    changed[0, 2, 1:] = (codes[0, 2, 1:] + 1) % 5  # frame 2, groups 1 and 2
    with torch.no_grad():
        a, b = prior(content, codes), prior(content, changed)
    torch.testing.assert_close(a[:, :3, 0], b[:, :3, 0])  # earlier frames and group 0 of frame 2 unchanged
    torch.testing.assert_close(a[:, 2, 1], b[:, 2, 1])  # group 1 sees group 0 only
    assert not torch.allclose(a[:, 3], b[:, 3])  # the next frame does see frame 2


def toy_sequences(count: int, frames: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Each group counts up by one per frame (mod E) from a start that the content announces; group 2 copies group 0.
    An ideal model needs ~0 bits per frame; a uniform one N log2 E."""
    start = torch.randint(0, 5, (count, 2), generator=generator)
    t = torch.arange(frames)[None, :, None]
    codes = (start[:, None, :] + t) % 5  # groups 0 and 1
    codes = torch.cat([codes, codes[..., :1]], dim=-1)  # (count, frames, 3)
    content = torch.nn.functional.one_hot(start, 5).float().reshape(count, 2, 5)[..., :4]  # (count, 2, 4)
    return content, codes


def test_prior_learns_structure_a_uniform_model_cannot():
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    prior = MotionPrior(CFG)
    train, held_out = toy_sequences(256, 12, g), toy_sequences(64, 12, g)
    optimizer = torch.optim.AdamW(prior.parameters(), lr=3e-3)
    for step in range(150):
        pick = torch.randint(0, 256, (32,), generator=g)
        loss = prior.nll_bits(train[0][pick], train[1][pick])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    prior.eval()
    with torch.no_grad():
        nll = float(prior.nll_bits(*held_out))
    uniform = 3 * math.log2(5)  # 6.97 bits per frame
    assert nll < 0.25 * uniform, f"{nll:.2f} bits/frame vs uniform {uniform:.2f}"


def test_generate_continues_a_prompt_with_valid_codes():
    torch.manual_seed(0)
    prior = MotionPrior(CFG).eval()
    prompt = torch.randint(0, 5, (2, 20, 3))  # longer than the context: a sliding window is read
    codes = prior.generate(torch.randn(2, 2, 4), 7, prompt=prompt, temperature=0.8, top_k=2,
                           generator=torch.Generator().manual_seed(1))
    assert codes.shape == (2, 7, 3) and int(codes.min()) >= 0 and int(codes.max()) < 5


class RandomClips(LightningDataModule):
    def __init__(self):
        super().__init__()
        video = torch.rand(8, 12, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
        self.data = TensorDataset(video, torch.zeros(8))

    def train_dataloader(self):
        return DataLoader(self.data, batch_size=4)

    def val_dataloader(self):
        return DataLoader(self.data, batch_size=4)


def test_prior_module_trains_on_bcd_codes_and_reloads(tmp_path):
    from motioncontent.systems import MotionPriorModule
    from motioncontent.systems.inference import load_bcd, load_prior

    bcd_path = tiny_bcd(tmp_path / "bcd.ckpt")
    module = MotionPriorModule(bcd_checkpoint=str(bcd_path), dim=32, depth=1, heads=2, max_frames=16, window=8,
                               content_frames=4, warmup_steps=1)
    assert module.hparams.num_groups == TINY_BCD["num_groups"] and module.hparams.content_dim == TINY_BCD["content_dim"]
    trainer = lightning.Trainer(max_steps=3, accelerator="cpu", logger=False, enable_progress_bar=False,
                                enable_model_summary=False, default_root_dir=tmp_path, val_check_interval=3,
                                check_val_every_n_epoch=None, limit_val_batches=1, num_sanity_val_steps=0)
    trainer.fit(module, RandomClips())
    metrics = trainer.callback_metrics
    capacity = TINY_BCD["num_groups"] * math.log2(TINY_BCD["codebook_size"])
    assert float(metrics["val/capacity_bits_per_frame"]) == pytest.approx(capacity)
    assert 0 < float(metrics["val/nll_bits_per_frame"]) < 3 * capacity
    assert 0 <= float(metrics["val/entropy_bits_per_frame"]) <= capacity + 1e-6
    assert float(module.train_code_counts.sum()) == 3 * 4 * 12 * TINY_BCD["num_groups"]  # steps x clips x frames x N
    path = tmp_path / "prior.ckpt"
    trainer.save_checkpoint(path)
    reloaded = load_prior(path, load_bcd(bcd_path))  # checks it was trained on this BCD model
    torch.testing.assert_close(reloaded.static_tables(), module.static_tables())
