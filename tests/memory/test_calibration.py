"""TokenCalibration: learns actual/estimated per model, bounded, robust, thread-safe."""

from __future__ import annotations

import random
import threading

import pytest

from langchain_arcee.memory.calibration import TokenCalibration


def test_unknown_model_has_factor_one() -> None:
    calibration = TokenCalibration()
    assert calibration.factor("m") == 1.0
    assert calibration.scale("m", 123) == 123
    assert calibration.observations("m") == 0


def test_learns_the_ratio_and_scales_estimates() -> None:
    calibration = TokenCalibration()
    for estimated in (1000, 2000, 1500):
        calibration.observe("m", estimated, estimated * 3)
    assert calibration.factor("m") == pytest.approx(3.0)
    assert calibration.scale("m", 101) == 303


def test_models_are_learned_separately() -> None:
    calibration = TokenCalibration()
    calibration.observe("cjk-model", 1000, 3500)
    calibration.observe("code-model", 1000, 1500)
    assert calibration.factor("cjk-model") == pytest.approx(3.5)
    assert calibration.factor("code-model") == pytest.approx(1.5)


@pytest.mark.parametrize(("actual", "expected"), [(100_000, 4.0), (10, 0.5)])
def test_ratios_are_clamped(actual: int, expected: float) -> None:
    calibration = TokenCalibration()
    assert calibration.observe("m", 1000, actual) == expected
    assert calibration.factor("m") == expected


def test_custom_bounds() -> None:
    calibration = TokenCalibration(min_factor=0.8, max_factor=2.0)
    calibration.observe("m", 1000, 9000)
    assert calibration.factor("m") == 2.0


def test_outliers_do_not_move_the_median() -> None:
    calibration = TokenCalibration(window=9)
    for _ in range(8):
        calibration.observe("m", 1000, 2000)
    calibration.observe("m", 1000, 100_000)  # one cached/rewritten request
    assert calibration.factor("m") == pytest.approx(2.0)
    calibration.observe("m", 1000, 1)
    assert calibration.factor("m") == pytest.approx(2.0)


def test_follows_a_change_within_the_window() -> None:
    calibration = TokenCalibration(window=5)
    for _ in range(5):
        calibration.observe("m", 1000, 1200)  # English
    for _ in range(3):
        calibration.observe("m", 1000, 3600)  # then the user switches to Chinese
    assert calibration.factor("m") == pytest.approx(3.6)
    assert calibration.observations("m") == 5


def test_higher_quantile_errs_high() -> None:
    median, upper = TokenCalibration(), TokenCalibration(quantile=1.0)
    for actual in (1000, 1100, 1200, 1300, 1400):
        median.observe("m", 1000, actual)
        upper.observe("m", 1000, actual)
    assert median.factor("m") == pytest.approx(1.2)
    assert upper.factor("m") == pytest.approx(1.4)


@pytest.mark.parametrize(
    ("estimated", "actual"), [(0, 100), (100, 0), (-5, 100), (10, 40), (True, 100)]
)
def test_invalid_and_tiny_observations_are_ignored(estimated: int, actual: int) -> None:
    calibration = TokenCalibration(min_estimate=32)
    assert calibration.observe("m", estimated, actual) == 1.0
    assert calibration.observations("m") == 0


def test_models_remembered_are_bounded() -> None:
    calibration = TokenCalibration(max_models=2)
    calibration.observe("a", 1000, 2000)
    calibration.observe("b", 1000, 3000)
    calibration.observe("a", 1000, 2000)  # "a" is now the most recently observed
    calibration.observe("c", 1000, 1500)
    assert calibration.factor("b") == 1.0  # forgotten
    assert calibration.factor("a") == pytest.approx(2.0)
    assert calibration.factor("c") == pytest.approx(1.5)


def test_forget() -> None:
    calibration = TokenCalibration()
    calibration.observe("a", 1000, 2000)
    calibration.observe("b", 1000, 3000)
    calibration.forget("a")
    assert (calibration.factor("a"), calibration.factor("b")) == (1.0, 3.0)
    calibration.forget()
    assert calibration.factor("b") == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window": 0},
        {"max_models": 0},
        {"min_factor": 0},
        {"min_factor": 1.5},
        {"max_factor": 0.9},
        {"max_factor": float("inf")},
        {"quantile": 1.5},
    ],
)
def test_bad_settings_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        TokenCalibration(**kwargs)  # type: ignore[arg-type]


def test_concurrent_observers() -> None:
    calibration = TokenCalibration(window=50, max_models=4)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(2000):
                key = f"m{rng.randrange(6)}"  # more keys than max_models: evictions race too
                calibration.observe(key, 1000, rng.randrange(1500, 2500))
                assert 0.5 <= calibration.factor(key) <= 4.0
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    learned = [key for key in (f"m{i}" for i in range(6)) if calibration.observations(key)]
    assert 1 <= len(learned) <= 4
    for key in learned:
        assert 1.5 <= calibration.factor(key) <= 2.5
        assert calibration.observations(key) <= 50
