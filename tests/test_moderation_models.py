"""The model signals: the profanity model read out of alt-profanity-check agrees with the
package's own scoring; an operator's ONNX classifier (a tiny one built here with the onnx
package's helper API, as no model can be downloaded) joins the verdicts when configured."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from livefold.moderation import scoring
from livefold.moderation.lexicon import Category
from livefold.moderation.normalize import Text, check
from livefold.moderation.onnx_model import OnnxClassifier, WordPiece
from livefold.moderation.profanity_model import ProfanityModel, load
from livefold.moderation.toxicity import Level, judge

TEXTS = ["you are an idiot", "kill the boss first", "holy shit that was close", "hello chat",
         "what a lovely stream", "shut up", "I could die laughing", "gg wp"]  # fmt: skip


def text(raw: str) -> Text:
    checked = check(raw)
    assert isinstance(checked, Text)
    return checked


def test_the_read_out_profanity_model_scores_as_the_package_does() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from profanity_check import predict_prob  # type: ignore[import-untyped]
    expected = predict_prob(TEXTS)
    model = load()
    for raw, probability in zip(TEXTS, expected, strict=True):
        assert model.probability(raw) == pytest.approx(float(probability), abs=1e-9), raw


def test_the_profanity_model_reads_through_obfuscation_and_skips_harmless_lines() -> None:
    model = ProfanityModel()
    assert model.score(text("f u c k")) > 0.9
    assert model.score(text("sh1t")) > 0.9
    assert model.score(text("hello chat")) == 0.0


VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "you", "are", "a", "rotten", "egg", "hello",
         "chat", "##s"]  # fmt: skip


@pytest.fixture(scope="module")
def operator_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Token embeddings averaged into two logits: "rotten" and "egg" lean abusive."""
    embedding = np.zeros((len(VOCAB), 2), dtype=np.float32)
    embedding[:, 0] = 4.0
    for word in ("rotten", "egg"):
        embedding[VOCAB.index(word)] = [0.0, 20.0]
    for marker in ("[CLS]", "[SEP]"):
        embedding[VOCAB.index(marker)] = [0.0, 0.0]
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["embedding", "input_ids"], ["embedded"]),
            helper.make_node("ReduceMean", ["embedded"], ["logits"], axes=[1], keepdims=0),
        ],
        "tiny-classifier",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, None])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2])],
        [
            helper.make_tensor(
                "embedding", TensorProto.FLOAT, embedding.shape, embedding.flatten().tolist()
            )
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=9)
    onnx.checker.check_model(model)
    directory = tmp_path_factory.mktemp("model")
    onnx.save(model, directory / "model.onnx")
    (directory / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return directory / "model.onnx"


def test_wordpiece_splits_into_known_pieces() -> None:
    pieces = WordPiece(VOCAB)
    assert pieces.encode("Hello chats") == [2, 9, 10, 11, 3]
    assert pieces.encode("zebra") == [2, 1, 3]


def test_an_operator_onnx_model_scores_messages(operator_model: Path) -> None:
    model = OnnxClassifier(operator_model)
    assert model.score(text("you are a rotten egg")) > 0.9
    assert model.score(text("hello chat")) < 0.2


@pytest.fixture
def configured(operator_model: Path) -> Iterator[None]:
    scoring.configure(operator_model, None, "insult")
    yield
    scoring.configure(None)


def held(raw: str) -> bool:
    scores = scoring.current_scorer().scores(text(raw))
    return judge(scores, lambda category: Level.MEDIUM) is not None


def test_the_configured_model_catches_what_the_lexicon_does_not_know(
    configured: None,
) -> None:
    assert held("you are a rotten egg")
    assert not held("hello chat")
    scoring.configure(None)
    assert not held("you are a rotten egg")
    assert Category.INSULT not in scoring.current_scorer().scores(text("you are a rotten egg"))
