"""`motioncontent eval sweep-sprites` end to end on the tiny preset: two targets trained, scored, tabled, plotted,
and a second call reuses what exists."""

import json

from PIL import Image

from test_cli import run


def test_sweep_trains_scores_and_plots_each_target_once(lpc_datamodule, tmp_path):
    judge_dir = tmp_path / "judge"
    result = run("fit", "--config", "configs/judge_sprites.yaml", "--data.init_args.source=lpc",
                 f"--data.init_args.data_dir={lpc_datamodule.data_dir}", "--model.init_args.width=4",
                 "--trainer.max_epochs=1", "--trainer.limit_train_batches=1", "--trainer.limit_val_batches=1",
                 f"--trainer.logger.init_args.save_dir={tmp_path / 'logs'}",
                 f"--trainer.callbacks.init_args.dirpath={judge_dir}", timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "sweep"
    args = ["eval", "sweep-sprites", "--targets", "1", "3", "--out", str(out), "--limit", "8", "--no_probes", "--",
            "--config", "configs/presets/tiny.yaml", "--data.init_args.source=lpc",
            f"--data.init_args.data_dir={lpc_datamodule.data_dir}"]
    result = run(*args[:2], "--judge", str(judge_dir / "judge_sprites.ckpt"), *args[2:], timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = json.loads((out / "rate_sweep.json").read_text())["runs"]
    assert [r["target"] for r in runs] == [1.0, 3.0]
    assert all(0 <= r["motion_acc"] <= 1 and r["bits_per_frame"] >= 0 for r in runs)
    assert all(r["steps"] == 4 for r in runs), runs  # the tiny preset trains 4 steps
    assert "| target bits/frame |" in (out / "rate_sweep.md").read_text()
    assert Image.open(out / "rate_sweep.png").size[0] > 300
    again = run(*args[:2], "--judge", str(judge_dir / "judge_sprites.ckpt"), *args[2:], timeout=120)
    assert again.returncode == 0 and again.stdout.count("already evaluated") == 2
