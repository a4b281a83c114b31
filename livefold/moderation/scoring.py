"""The signals every verdict combines, assembled once per process: the lexicon of each
category, the threat patterns, the profanity model, and the operator's ONNX model when the
settings name one (`configure`). Every process that folds moderation (the worker, replay,
inspection) configures the same, so replay gives the same verdicts."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from livefold.moderation.lexicon import Category
from livefold.moderation.profanity_model import ProfanityModel
from livefold.moderation.threats import HATE_PATTERNS, ThreatPatterns
from livefold.moderation.toxicity import ModelSignal, Scorer, lexicon_signals

# The profanity model flags harmless lines too ("kill the boss first" scores 0.94), so only
# its near-certain calls count, and only as added weight: for profanity where the lexicon found
# swearing already, for insults where the message is aimed at someone (calibrated on the
# development corpus).
MODEL_FLOOR = 0.9
PROFANITY_WEIGHT = 0.5
INSULT_WEIGHT = 0.65
OPERATOR_MODEL_FLOOR = 0.5
OPERATOR_MODEL_WEIGHT = 0.9


@cache
def default_scorer() -> Scorer:
    model = ProfanityModel()
    return Scorer(
        [
            *lexicon_signals(),
            (Category.THREAT, ThreatPatterns()),
            (Category.HATE, ThreatPatterns(HATE_PATTERNS)),
            (Category.PROFANITY, ModelSignal(model, MODEL_FLOOR, PROFANITY_WEIGHT, False, True)),
            (Category.INSULT, ModelSignal(model, MODEL_FLOOR, INSULT_WEIGHT, True)),
        ]
    )


_configured: list[Scorer] = []


def configure(
    model_path: Path | None, vocab_path: Path | None = None, category: str = "insult"
) -> Scorer:
    """Add the operator's ONNX model (if any) to the default signals for this process."""
    scorer = default_scorer()
    if model_path is not None:
        from livefold.moderation.onnx_model import OnnxClassifier

        signal = ModelSignal(
            OnnxClassifier(model_path, vocab_path),
            OPERATOR_MODEL_FLOOR,
            OPERATOR_MODEL_WEIGHT,
            needs_target=category != Category.PROFANITY,
        )
        scorer = scorer.with_signal(Category(category), signal)
    _configured[:] = [scorer]
    return scorer


def current_scorer() -> Scorer:
    return _configured[0] if _configured else default_scorer()
