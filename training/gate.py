"""The evaluation gate: a new adapter serves only if it is measurably better.

Both adapters are scored by execution on the same held-out corrections (what users
asked and we got wrong) and on a fixed regression set (what we must keep getting right);
"better" means at least ``margin`` more on the first, and no more than
``max_regression`` less on the second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .benchmarks import EvalItem
from .config import TrainConfig
from .dataset import TrainExample
from .evaluate import Evaluator


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str
    candidate: dict
    current: dict


def score(model, held: Sequence[TrainExample], regression: Sequence[EvalItem],
          data_dir: Path = Path("."), retries: int = 1) -> dict:
    """Execution accuracy of ``model`` on the held-out examples and the regression set."""
    evaluator = Evaluator(model, Path(data_dir), retries=retries)
    held_scores = [evaluator.score(EvalItem(e.database_url, e.question, e.sql), e.history)
                   for e in held]
    reg_scores = [evaluator.score(item) for item in regression]
    held_ok = [s for s in held_scores if s.gold_ok]
    reg_ok = [s for s in reg_scores if s.gold_ok]
    return {
        "holdout_ex": _ratio(held_ok), "holdout_n": len(held_ok),
        "regression_ex": _ratio(reg_ok), "regression_n": len(reg_ok),
    }


def _ratio(scored) -> float | None:
    return round(sum(s.correct for s in scored) / len(scored), 4) if scored else None


def decide(candidate: dict, current: dict, config: TrainConfig) -> GateDecision:
    if not candidate["holdout_n"]:
        return GateDecision(False, "no held-out examples to measure on", candidate, current)
    gain = candidate["holdout_ex"] - (current["holdout_ex"] or 0.0)
    if gain < config.margin:
        return GateDecision(
            False, f"held-out EX {candidate['holdout_ex']:.1%} vs {current['holdout_ex']:.1%}"
                   f" serving: gain {gain:+.1%} is below the margin {config.margin:.1%}",
            candidate, current)
    if candidate["regression_n"]:
        loss = (current["regression_ex"] or 0.0) - candidate["regression_ex"]
        if loss > config.max_regression:
            return GateDecision(
                False, f"regression set EX fell {loss:.1%} (allowed "
                       f"{config.max_regression:.1%})", candidate, current)
    return GateDecision(True, f"held-out EX {gain:+.1%} ({candidate['holdout_ex']:.1%} vs "
                              f"{current['holdout_ex']:.1%})", candidate, current)
