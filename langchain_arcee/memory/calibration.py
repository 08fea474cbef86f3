"""Self-calibrating token estimates: learn, per model, how far the offline estimate is off.

Every chat response reports ``usage.prompt_tokens``: the server's own count of exactly what was
sent. Comparing it with the offline estimate of the same request gives a ratio that captures
what no offline estimate knows (the model's tokenizer, its chat template, the conversation's
language). :class:`TokenCalibration` keeps the last few ratios per model and scales later
estimates by their median, so a window fitted with calibrated counts uses the model's context
without overflowing it.

Pure and I/O-free: the memory adapter feeds it observations and asks it for factors.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque

DEFAULT_MIN_FACTOR = 0.5
"""Lowest factor ever applied: an estimate is never trusted to be more than 2x too high."""

DEFAULT_MAX_FACTOR = 4.0
"""Highest factor ever applied (CJK text against a ~4-characters-per-token estimate is ~4x)."""


class TokenCalibration:
    """Learns ``actual / estimated`` prompt tokens per model; bounded, outlier-robust, thread-safe.

    Each observation's ratio is clamped to ``[min_factor, max_factor]`` and kept in a window of
    the last ``window`` ratios of its model; the factor is a quantile of that window (the
    median by default), so a single odd response (a cached prompt, a proxy that rewrote the
    request) moves it by at most one rank, and a change of conversation language is followed
    within ``window / 2`` turns. Tiny requests, whose ratio is dominated by fixed per-message
    overheads, are ignored.

    Args:
        window: Ratios kept per model.
        min_factor: Lower bound of every ratio and factor.
        max_factor: Upper bound of every ratio and factor.
        min_estimate: Observations whose estimate is below this many tokens are ignored.
        quantile: Which quantile of the window is the factor: ``0.5`` is the median; a higher
            one (e.g. ``0.75``) errs towards larger counts, i.e. fewer overflows and a less
            full window.
        max_models: Models remembered (least recently observed forgotten first).

    Example:
        .. code-block:: python

            calibration = TokenCalibration()
            calibration.observe("trinity-mini", estimated=1000, actual=3200)
            calibration.factor("trinity-mini")  # 3.2
            calibration.scale("trinity-mini", 500)  # 1600
            calibration.factor("another-model")  # 1.0: nothing learned yet
    """

    def __init__(
        self,
        *,
        window: int = 15,
        min_factor: float = DEFAULT_MIN_FACTOR,
        max_factor: float = DEFAULT_MAX_FACTOR,
        min_estimate: int = 32,
        quantile: float = 0.5,
        max_models: int = 1024,
    ) -> None:
        if window < 1 or max_models < 1:
            raise ValueError("window and max_models must be at least 1")
        if not 0 < min_factor <= 1 <= max_factor or not math.isfinite(max_factor):
            raise ValueError("need 0 < min_factor <= 1 <= max_factor (finite)")
        if not 0 <= quantile <= 1:
            raise ValueError("quantile must be between 0 and 1")
        self._window = window
        self._min = min_factor
        self._max = max_factor
        self._min_estimate = max(1, min_estimate)
        self._quantile = quantile
        self._max_models = max_models
        self._ratios: OrderedDict[str, deque[float]] = OrderedDict()
        self._factors: dict[str, float] = {}
        self._lock = threading.Lock()

    def observe(self, model_key: str, estimated: int, actual: int) -> float:
        """Record one request: its offline estimate and the server's ``usage.prompt_tokens``.

        Args:
            model_key: Identifies the model (e.g. its id, or base URL and id).
            estimated: The offline estimate of exactly what was sent.
            actual: The response's ``usage.prompt_tokens`` for that request.

        Returns:
            The model's factor after this observation (unchanged if the observation was
            ignored: a non-positive count, or an estimate below ``min_estimate``).
        """
        if not _is_count(estimated) or not _is_count(actual) or estimated < self._min_estimate:
            return self.factor(model_key)
        ratio = min(self._max, max(self._min, actual / estimated))
        with self._lock:
            ratios = self._ratios.get(model_key)
            if ratios is None:
                ratios = self._ratios[model_key] = deque(maxlen=self._window)
                while len(self._ratios) > self._max_models:
                    forgotten, _ = self._ratios.popitem(last=False)
                    self._factors.pop(forgotten, None)
            else:
                self._ratios.move_to_end(model_key)
            ratios.append(ratio)
            ordered = sorted(ratios)
            factor = ordered[round(self._quantile * (len(ordered) - 1))]
            self._factors[model_key] = factor
            return factor

    def factor(self, model_key: str) -> float:
        """The factor to multiply a model's estimates by (``1.0`` before any observation)."""
        return self._factors.get(model_key, 1.0)

    def scale(self, model_key: str, estimated: int) -> int:
        """An estimate scaled by the model's factor, rounded up."""
        return math.ceil(estimated * self.factor(model_key))

    def observations(self, model_key: str) -> int:
        """How many ratios the model's window holds now (at most ``window``)."""
        with self._lock:
            ratios = self._ratios.get(model_key)
            return len(ratios) if ratios is not None else 0

    def forget(self, model_key: str | None = None) -> None:
        """Drop what was learned about one model, or about all of them."""
        with self._lock:
            if model_key is None:
                self._ratios.clear()
                self._factors.clear()
            else:
                self._ratios.pop(model_key, None)
                self._factors.pop(model_key, None)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


__all__ = ["DEFAULT_MAX_FACTOR", "DEFAULT_MIN_FACTOR", "TokenCalibration"]
