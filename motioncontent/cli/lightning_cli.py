"""LightningCLI for every LightningModule and DataModule of the project, configured by YAML files.

Subclass mode for both: several LightningModules exist (the BCD model, the judge, the motion prior, the frame
autoencoder), each picked by `class_path` in its config, and any DataModule can feed them.
"""

from __future__ import annotations

from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.cli import LightningCLI


class MotionContentCLI(LightningCLI):
    """LightningCLI with the project's defaults; argument links between data and model go here."""

    def before_instantiate_classes(self) -> None:
        # Modules that load other checkpoints in __init__ (the predictor, the motion prior): check those files here,
        # since an error raised while jsonargparse builds a class reaches the user wrapped in a long message.
        from motioncontent.systems.inference import check_checkpoint

        config = self.config.get(self.subcommand, self.config) if self.subcommand else self.config
        model = config.get("model")
        class_path = str(getattr(model, "class_path", "") or "")
        init = getattr(model, "init_args", None) or {}
        if class_path.endswith("MotionPredictor"):
            check_checkpoint(init.get("bcd_checkpoint"), "BCDModule", "BCD (model.init_args.bcd_checkpoint)")
            if init.get("prior_checkpoint"):
                check_checkpoint(init.get("prior_checkpoint"), "MotionPriorModule", "motion prior")
        elif class_path.endswith("MotionPriorModule") and init.get("bcd_checkpoint"):
            check_checkpoint(init.get("bcd_checkpoint"), "BCDModule", "BCD (model.init_args.bcd_checkpoint)")


def lightning_main(argv: list[str] | None) -> None:
    MotionContentCLI(
        LightningModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=argv,
        # Each run writes its config.yaml into its own log folder; overwrite keeps re-runs into one folder working.
        save_config_kwargs={"overwrite": True},
        # A module's own configure_optimizers (warm-up, EMA) stays in charge; see ECOSYSTEM.md 2.4.
        auto_configure_optimizers=False,
        parser_kwargs={"default_env": True},
    )
