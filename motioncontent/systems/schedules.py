"""Learning-rate schedules shared by the LightningModules (LambdaLR multipliers, stepped every optimizer step)."""

from __future__ import annotations

import math
from typing import Callable


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
