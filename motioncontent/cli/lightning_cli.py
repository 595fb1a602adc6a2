"""LightningCLI for every LightningModule and DataModule of the project, configured by YAML files.

Subclass mode for both: several LightningModules exist (the BCD model, the judge, the motion prior, the frame
autoencoder), each picked by `class_path` in its config, and any DataModule can feed them.

Bad input ends with one line (`motioncontent: error: ...`, exit 2) on one path: usage errors through the parser's
`error` (OneLineErrors), everything else as a MotionContentError that `motioncontent.cli.main` prints. The files a
run names (checkpoints, output folders) are checked right after parsing, before seeding, instantiation or the
Trainer print anything: a checkpoint of the wrong model would otherwise fail inside LightningCLI's own
`--ckpt_path` parsing with a long jsonargparse message, and an unwritable log folder only at the first log write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from motioncontent.cli.subcommands import OneLineErrors, check_writable_dir
from motioncontent.errors import CheckpointError

# Model arguments that name a checkpoint, and the class that checkpoint must hold (None: any readable file).
CHECKPOINT_ARGUMENTS: dict[str, str | None] = {
    "bcd_checkpoint": "BCDModule", "prior_checkpoint": "MotionPriorModule", "stage1_checkpoint": "BCDModule",
}
# Trainer/callback/logger arguments that name a folder the run writes into.
OUTPUT_FOLDER_ARGUMENTS = ("default_root_dir", "save_dir", "dirpath", "output_dir")


class LightningParser(OneLineErrors, LightningArgumentParser):
    """LightningCLI's parser with one-line usage errors."""


class MotionContentCLI(LightningCLI):
    """LightningCLI with the project's defaults and early checks of the files a run reads and writes."""

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        config = self.config.get(subcommand) if subcommand else self.config
        if config is not None:
            check_run_files(config)


def _init_args(node: Any) -> dict[str, Any]:
    """init_args of a class_path/init_args node (a jsonargparse Namespace or a dict) as a dict, else {}."""
    init = node.get("init_args") if hasattr(node, "get") else getattr(node, "init_args", None)
    if init is None:
        return {}
    return dict(init.items()) if hasattr(init, "items") else dict(vars(init))


def _class_name(node: Any) -> str:
    class_path = node.get("class_path") if hasattr(node, "get") else getattr(node, "class_path", None)
    return str(class_path or "").rsplit(".", 1)[-1]


def check_run_files(config: Any) -> None:
    """One-line MotionContentError for a missing or wrong checkpoint or an unwritable output folder of a run config
    (the `fit`/`validate`/`test`/`predict` section of LightningCLI's parsed config)."""
    from motioncontent.systems.inference import check_checkpoint, read_checkpoint

    model = config.get("model")
    model_class = _class_name(model) if model is not None else ""
    ckpt_path = config.get("ckpt_path")
    # "last"/"best"/"hpc"/"registry" are Lightning's own names for checkpoints it finds itself
    if ckpt_path and (str(ckpt_path) not in ("last", "best", "hpc", "registry") or Path(str(ckpt_path)).is_file()):
        try:  # a truncated or damaged file: the resume machinery's own message, which suggests `last`
            from motioncontent.callbacks.checkpointing import check_checkpoint as check_intact
        except ImportError:
            check_intact = None
        if check_intact is not None and Path(str(ckpt_path)).is_file():
            check_intact(ckpt_path)
        if model_class:
            meta = check_checkpoint(ckpt_path, model_class, "--ckpt_path", need_class_path=True)
            # LightningCLI rebuilds the model from the checkpoint's hyperparameters, so another architecture loads;
            # but a model for other frames than the config's (and so its data's) would fail at the first batch.
            saved, configured = meta.get("hyper_parameters") or {}, _init_args(model)
            for name in ("image_size", "channels"):
                if name in saved and name in configured and saved[name] != configured[name]:
                    raise CheckpointError(f"{ckpt_path} is a model for {name}={saved[name]}, the config's model and "
                                          f"data have {name}={configured[name]}")
        else:
            read_checkpoint(ckpt_path, "--ckpt_path")
    for name, value in _init_args(model).items() if model is not None else ():
        if name in CHECKPOINT_ARGUMENTS and value:
            check_checkpoint(value, CHECKPOINT_ARGUMENTS[name], f"model.init_args.{name}")
        elif name == "codec_checkpoint" and value and _init_args(model).get("codec") == "autoencoder":
            check_checkpoint(value, "FrameAutoencoderModule", "model.init_args.codec_checkpoint")

    trainer = config.get("trainer")
    if trainer is None:
        return
    outputs = [("trainer.default_root_dir", trainer.get("default_root_dir"))]
    for key in ("logger", "callbacks"):
        nodes = trainer.get(key)
        for node in nodes if isinstance(nodes, list) else [nodes]:
            if node is None or isinstance(node, bool):
                continue
            init = _init_args(node)
            name = f"trainer.{key} ({_class_name(node)})"
            outputs += [(f"{name} {arg}", init.get(arg)) for arg in OUTPUT_FOLDER_ARGUMENTS]
    for what, folder in outputs:
        if folder:
            check_writable_dir(folder, f"output folder {what}")


def lightning_main(argv: list[str] | None) -> None:
    import logging

    # "Seed set to N" (an INFO line of seed_everything) would precede a one-line error; the seed is in config.yaml.
    logging.getLogger("lightning.fabric.utilities.seed").setLevel(logging.WARNING)
    MotionContentCLI(
        LightningModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=argv,
        parser_class=LightningParser,
        # Each run writes its config.yaml into its own log folder; overwrite keeps re-runs into one folder working.
        save_config_kwargs={"overwrite": True},
        # A module's own configure_optimizers (warm-up, EMA) stays in charge; see ECOSYSTEM.md 2.4.
        auto_configure_optimizers=False,
        parser_kwargs={"default_env": True},
    )
