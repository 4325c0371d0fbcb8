"""Tagged tokens: reading CoNLL or JSONL files, aligning word tags to sub-word tokens, and scoring
entities as seqeval does (an entity counts only when its type, start and end all match)."""

from __future__ import annotations

import json
from pathlib import Path

from mlprojects.errors import UserError

IGNORE = -100  # the label of special and continuation tokens: the loss skips them


def read_tagged(path: str | Path) -> list[tuple[list[str], list[str]]]:
    """Sentences as (words, tags): CoNLL (a word and its tag per line, the tag last, a blank line
    between sentences, ``-DOCSTART-`` skipped) or JSONL (``{"tokens": [...], "tags": [...]}``)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    text = path.read_text(encoding="utf-8")
    sentences: list[tuple[list[str], list[str]]] = []
    if path.suffix.lower() in (".jsonl", ".json"):
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                words, tags = [str(w) for w in row["tokens"]], [str(t) for t in row["tags"]]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise UserError(f"{path}: line {number} is not an object with 'tokens' and 'tags' lists") from None
            if len(words) != len(tags):
                raise UserError(f"{path}: line {number} has {len(words)} tokens but {len(tags)} tags")
            sentences.append((words, tags))
    else:
        words, tags = [], []
        for number, line in enumerate(text.splitlines() + [""], 1):
            fields = line.split()
            if not fields or fields[0] == "-DOCSTART-":
                if words:
                    sentences.append((words, tags))
                words, tags = [], []
                continue
            if len(fields) < 2:
                raise UserError(f"{path}: line {number} has no tag; CoNLL lines are 'word ... tag'")
            words.append(fields[0])
            tags.append(fields[-1])
    if not sentences:
        raise UserError(f"{path}: the file is empty")
    return sentences


def align(word_ids: list[int | None], word_tags: list[int]) -> list[int]:
    """Sub-word labels: a word's tag on its first token, IGNORE on special and continuation tokens."""
    labels, previous = [], None
    for word in word_ids:
        labels.append(IGNORE if word is None or word == previous else word_tags[word])
        previous = word
    return labels


def entities(tags: list[str]) -> set[tuple[str, int, int]]:
    """(type, first, last) of every entity in a BIO/IOB2 tag sequence; an I- tag that does not
    continue an entity of its type starts one, as in seqeval's default mode."""
    found, current = set(), None
    for index, tag in enumerate(list(tags) + ["O"]):
        prefix, _, kind = tag.partition("-")
        continues = current is not None and prefix == "I" and kind == current[0]
        if current is not None and not continues:
            found.add((current[0], current[1], index - 1))
            current = None
        if prefix in ("B", "I") and not continues:
            current = (kind, index)
    return found


def entity_scores(true: list[list[str]], predicted: list[list[str]]) -> dict[str, float]:
    """Entity-level precision, recall and F1 (micro-averaged), seqeval's definition."""
    gold = {(s,) + e for s, tags in enumerate(true) for e in entities(tags)}
    guess = {(s,) + e for s, tags in enumerate(predicted) for e in entities(tags)}
    hits = len(gold & guess)
    precision = hits / len(guess) if guess else 0.0
    recall = hits / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}
