"""An operator's own classifier: a transformer (or any) model exported to ONNX, run with
onnxruntime on the worker's CPU, as one more signal for one category.

Models cannot be downloaded here, so the operator points `moderation_model_path` at a file.
The contract: inputs `input_ids` (int64, [1, tokens]) and optionally `attention_mask` and
`token_type_ids` (same shape); the first output is [1, 2] logits (the second class is
"abusive") or [1, 1] (a logit, or a probability already). Text is split into WordPiece ids
with the BERT-style `vocab.txt` beside the model (lower-cased, one token per line), which is
how most small text classifiers on the hub are exported.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime  # type: ignore[import-untyped]

from livefold.moderation.normalize import Text, readable_words

MAX_TOKENS = 128
_PIECES = re.compile(r"\w+|[^\w\s]")


class WordPiece:
    """Greedy longest-match-first WordPiece, BERT's uncased tokenizer without its extras."""

    def __init__(self, vocab: list[str]):
        self.ids = {token: index for index, token in enumerate(vocab)}
        self.unknown = self.ids.get("[UNK]", 0)
        self.start = self.ids.get("[CLS]")
        self.end = self.ids.get("[SEP]")

    @classmethod
    def load(cls, path: Path) -> WordPiece:
        return cls(path.read_text(encoding="utf-8").splitlines())

    def encode(self, text: str) -> list[int]:
        ids = [] if self.start is None else [self.start]
        for word in _PIECES.findall(text.lower()):
            ids.extend(self._word(word))
        ids = ids[: MAX_TOKENS - 1]
        if self.end is not None:
            ids.append(self.end)
        return ids

    def _word(self, word: str) -> list[int]:
        pieces: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.ids:
                    pieces.append(self.ids[piece])
                    break
                end -= 1
            else:
                return [self.unknown]
            start = end
        return pieces


class OnnxClassifier:
    def __init__(self, model_path: Path, vocab_path: Path | None = None):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # one message at a time: threads cost more than help
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {item.name for item in self.session.get_inputs()}
        if "input_ids" not in self.inputs:
            raise ValueError(f"{model_path}: the model has no input named input_ids")
        vocab = vocab_path or model_path.with_name("vocab.txt")
        self.tokenizer = WordPiece.load(vocab)

    def score(self, text: Text) -> float:
        if not text.tokens:
            return 0.0
        ids = np.array([self.tokenizer.encode(" ".join(readable_words(text)))], dtype=np.int64)
        feeds: dict[str, Any] = {"input_ids": ids}
        if "attention_mask" in self.inputs:
            feeds["attention_mask"] = np.ones_like(ids)
        if "token_type_ids" in self.inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        output = np.asarray(self.session.run(None, feeds)[0], dtype=np.float64).reshape(-1)
        if output.size >= 2:
            high = float(output.max())
            exps = [math.exp(float(value) - high) for value in output]
            return (
                round(exps[-1] / sum(exps), 4)
                if output.size == 2
                else round(exps[1] / sum(exps), 4)
            )
        value = float(output[0])
        return round(value if 0.0 <= value <= 1.0 else 1.0 / (1.0 + math.exp(-value)), 4)
