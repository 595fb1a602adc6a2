import math
from types import SimpleNamespace

import pytest

from motioncontent.systems.schedules import trainer_max_steps, warmup_cosine


def test_warmup_then_cosine_to_the_final_fraction():
    schedule = warmup_cosine(warmup_steps=10, total_steps=110, final_fraction=0.1)
    assert schedule(0) == pytest.approx(0.1) and schedule(9) == pytest.approx(1.0)
    assert schedule(60) == pytest.approx(0.55)  # half-way through the cosine: the mean of 1 and 0.1
    assert schedule(110) == pytest.approx(0.1) and schedule(500) == pytest.approx(0.1)
    values = [schedule(s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(values, values[1:]))


@pytest.mark.parametrize("total", [None, 5])
def test_constant_after_warmup_without_a_step_limit(total):
    schedule = warmup_cosine(warmup_steps=10, total_steps=total)
    assert [schedule(s) for s in (10, 1000)] == [1.0, 1.0]
    assert math.isclose(schedule(4), 0.5)


def test_trainer_max_steps_is_none_without_a_trainer_or_a_step_limit():
    assert trainer_max_steps(SimpleNamespace(_trainer=None)) is None
    assert trainer_max_steps(SimpleNamespace(_trainer=SimpleNamespace(max_steps=-1))) is None
    assert trainer_max_steps(SimpleNamespace(_trainer=SimpleNamespace(max_steps=500))) == 500
