"""The linear model of `alt-profanity-check` (TF-IDF words into calibrated linear SVMs, trained
on a large labelled comment set), scored one message at a time in plain Python.

The package scores through scikit-learn, which costs milliseconds per call for one message;
a worker judges one message at a time, so the model's numbers are read out once here (each
word's idf times each SVM's weight, the intercepts and sigmoid calibrations) and a message
costs a few dict lookups. The scikit-learn attributes used here are the package's internals:
`tests/test_moderation_models.py` fails if they change or if this scoring stops agreeing with
the package's own `predict_prob`.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from functools import cache
from typing import Any

from livefold.moderation.normalize import Text, fold, readable_words
from livefold.moderation.rules import collapse_spacing

LEANING = 0.5  # a word alone this offensive to the model makes a message worth scoring


@dataclass(frozen=True)
class LinearModel:
    token: re.Pattern[str]
    weights: dict[str, tuple[float, tuple[float, ...]]]  # word -> (idf, weight per SVM)
    intercepts: tuple[float, ...]
    calibrations: tuple[tuple[float, float], ...]  # sigmoid (a, b) per SVM

    def probability(self, text: str) -> float:
        counts: dict[str, int] = {}
        for word in self.token.findall(text.lower()):
            if word in self.weights:
                counts[word] = counts.get(word, 0) + 1
        models = len(self.intercepts)
        sums = [0.0] * models
        norm = 0.0
        for word, count in counts.items():
            idf, per_model = self.weights[word]
            value = count * idf
            norm += value * value
            for k in range(models):
                sums[k] += value * per_model[k]
        scale = 1.0 / math.sqrt(norm) if norm else 0.0
        total = 0.0
        for k in range(models):
            decision = sums[k] * scale + self.intercepts[k]
            a, b = self.calibrations[k]
            total += 1.0 / (1.0 + math.exp(a * decision + b))
        return total / models


@cache
def load() -> LinearModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the pickles were made by an older scikit-learn
        from profanity_check import profanity_check as package  # type: ignore[import-untyped]
    vectorizer: Any = package.vectorizer
    calibrated: Any = package.model.calibrated_classifiers_
    columns = {index: word for word, index in vectorizer.vocabulary_.items()}
    coefficients = [c.estimator.coef_[0] for c in calibrated]
    weights = {
        word: (
            float(vectorizer.idf_[index]),
            tuple(float(coef[index]) for coef in coefficients),
        )
        for index, word in columns.items()
    }
    return LinearModel(
        re.compile(vectorizer.token_pattern),
        weights,
        tuple(float(c.estimator.intercept_[0]) for c in calibrated),
        tuple((float(c.calibrators[0].a_), float(c.calibrators[0].b_)) for c in calibrated),
    )


class ProfanityModel:
    """The model's probability that a message is offensive, read on its de-obfuscated words.
    A message with no word the model leans towards offensive on its own (~470 of its 15,000)
    scores 0 without running the model: such messages stay far below any use made of it,
    and nine in ten chat lines are spared the work."""

    def __init__(self, model: LinearModel | None = None):
        self.model = model or load()
        self.leaning = frozenset(
            word for word in self.model.weights if self.model.probability(word) >= LEANING
        )
        # the same words as messages' folded tokens read them, to decide without reading more
        self.leaning_folded = frozenset(folded for word in self.leaning for folded in fold(word))
        self._last: tuple[Text, float] | None = None

    def score(self, text: Text) -> float:
        last = self._last
        if last is not None and last[0] is text:
            return last[1]
        probability = 0.0
        if text.spaced or not self.leaning_folded.isdisjoint(text.tokens):
            words = collapse_spacing(readable_words(text))
            if not self.leaning.isdisjoint(words):
                probability = round(self.model.probability(" ".join(words)), 4)
        self._last = (text, probability)
        return probability
