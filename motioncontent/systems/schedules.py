"""Learning-rate schedules shared by the LightningModules (LambdaLR multipliers, stepped every optimizer step)."""

from __future__ import annotations

import math
from typing import Any, Callable

from lightning.pytorch.callbacks import Timer


def warmup_cosine(warmup_steps: int, total_steps: int | None, final_fraction: float = 0.1) -> Callable[[int], float]:
    """Linear warm-up over warmup_steps, then a cosine from 1 to final_fraction at total_steps (then flat).

    total_steps None or <= warmup_steps: constant after the warm-up (a run bounded only by time has no end to
    decay towards).
    """
    warmup = max(1, warmup_steps)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if total_steps is None or total_steps <= warmup:
            return 1.0
        progress = min(1.0, (step - warmup) / (total_steps - warmup))
        return final_fraction + (1.0 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))

    return schedule


def trainer_max_steps(module: object) -> int | None:
    """The attached trainer's max_steps, or None when there is no trainer or no step limit (-1)."""
    steps = getattr(getattr(module, "_trainer", None), "max_steps", None)
    return int(steps) if steps is not None and steps > 0 else None


def budget_progress(module: Any) -> float | None:
    """How far the module's run is through its budget, in [0, 1]: the larger of global_step / max_steps and
    elapsed / max_time.

    None when the trainer has neither limit. max_time is read from the Timer callback that Lightning adds for it,
    whose elapsed time survives a resume. Under several processes rank 0's clock decides, as it does for Timer's
    stop: ranks that applied different learning rates would drift apart.
    """
    trainer, fractions = getattr(module, "_trainer", None), []
    max_steps = trainer_max_steps(module)
    if max_steps is not None:
        fractions.append(trainer.global_step / max_steps)
    for callback in getattr(trainer, "callbacks", []):
        if isinstance(callback, Timer) and callback._duration:  # no public getter for the duration
            elapsed = callback.time_elapsed("train")
            if getattr(trainer, "world_size", 1) > 1:
                elapsed = trainer.strategy.broadcast(elapsed)
            fractions.append(elapsed / callback._duration)
    return min(1.0, max(fractions)) if fractions else None


def budget_decay(decay_fraction: float, progress: Callable[[], float | None]) -> Callable[[], float]:
    """Warm-up-stable-decay's tail: 1 until the last decay_fraction of the budget, then linear to 0 at its end.

    The budget is steps or wall time, whichever ends first (`budget_progress`): a run bounded by max_time knows its
    end only as a time, so its decay is laid over time (Li, Yumer & Ramanan, "Budgeted Training", ICLR 2020: a
    linear decay to zero at the budget beats a constant rate). 0 turns it off; so does a run without a budget.
    """
    def factor() -> float:
        done = progress() if decay_fraction > 0 else None
        if done is None:
            return 1.0
        return max(0.0, min(1.0, (1.0 - done) / decay_fraction))

    return factor
