"""token-classify: fine-tune a pretrained transformer for token classification (NER), the Hugging
Face notebook's second fine-tuning, on the engine. ``mlprojects nlp finetune-tokens`` runs it.

Input: CoNLL files (word ... tag per line, sentences separated by blank lines) or JSONL
(``{"tokens": [...], "tags": [...]}``). A word's tag goes on its first sub-word token; special and
continuation tokens get -100, which the loss skips. Scored by entity (seqeval's definition: type,
start and end must all match): precision, recall, F1; plus token accuracy. Saved with
``save_pretrained`` under the run's ``model/`` with ``id2label``/``label2id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from mlprojects.builtin.fine_tune import FineTune, FineTuneConfig
from mlprojects.engine import TensorData, Trainer
from mlprojects.errors import UserError
from mlprojects.inputs import TextInputs
from mlprojects.nlp.entities import IGNORE
from mlprojects.project import Prepared


@dataclass
class TokenClassifyConfig(FineTuneConfig):
    """The fine-tuning settings; files are CoNLL or JSONL with tokens and tags."""


def token_loss(outputs: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy over the labelled tokens of each sentence, averaged per sentence; 'sum' adds the
    sentences' means, so sum / sentences = mean (as the engine's multi-process scaling needs)."""
    per_token = F.cross_entropy(outputs.transpose(1, 2), targets, ignore_index=IGNORE, reduction="none")
    counted = (targets != IGNORE).sum(1).clamp_min(1)
    per_sentence = per_token.sum(1) / counted
    return per_sentence.sum() if reduction == "sum" else per_sentence.mean()


def token_accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Each sentence's share of correctly tagged labelled tokens, summed over sentences."""
    labelled = targets != IGNORE
    right = ((outputs.argmax(-1) == targets) & labelled).sum(1)
    return (right / labelled.sum(1).clamp_min(1)).sum()


class TokenClassify(FineTune):
    config_class = TokenClassifyConfig
    # plus what its entry needs (model, train, eval): the tests write them, a user gives them
    smoke_settings: dict[str, Any] = {"epochs": 3, "batch_size": 8, "lr": 0.005}
    auto_class = "AutoModelForTokenClassification"  # logits (N, L, tags) through the same wrapper
    inputs = TextInputs("ner")  # applied by this task of `mlprojects nlp run`
    usage = "mlprojects nlp finetune-tokens --model M --train train.conll --eval eval.conll"

    def labels(self, cfg: TokenClassifyConfig) -> list[str]:
        from mlprojects.nlp.entities import read_tagged

        return sorted({tag for _, tags in read_tagged(cfg.train) for tag in tags})

    def encode(self, cfg, tokenizer, path: str, label2id: dict[str, int]) -> tuple[TensorData, int]:
        from mlprojects.nlp.entities import align, read_tagged

        if not getattr(tokenizer, "is_fast", False):
            raise UserError(f"--model {cfg.model}: token classification needs a fast tokenizer (for word ids)")
        sentences = read_tagged(path)
        unknown = sorted({tag for _, tags in sentences for tag in tags} - set(label2id))
        if unknown:
            raise UserError(f"{path}: tag(s) {', '.join(unknown)} do not occur in the training file {cfg.train}")
        words = [w for w, _ in sentences]
        full = tokenizer(words, is_split_into_words=True, truncation=False)
        truncated = sum(len(ids) > cfg.max_length for ids in full["input_ids"])
        encoded = tokenizer(words, is_split_into_words=True, truncation=True, max_length=cfg.max_length,
                            padding="longest", return_tensors="pt")
        labels = [align(encoded.word_ids(i), [label2id[t] for t in tags]) for i, (_, tags) in enumerate(sentences)]
        inputs = torch.stack([encoded["input_ids"], encoded["attention_mask"]], 1)
        return TensorData(inputs, torch.tensor(labels)), truncated

    def loss_fn(self, cfg):
        return token_loss

    def metrics(self, cfg):
        return {"accuracy": token_accuracy}

    def report(self, run_dir: Path, cfg: TokenClassifyConfig, trainer: Trainer, data: Prepared) -> dict[str, Any]:
        from mlprojects.nlp.entities import entity_scores

        names = list(data.meta["label2id"])
        predicted = trainer.predict(data.test.inputs).argmax(-1).cpu()
        true_tags, predicted_tags = [], []
        for guess, gold in zip(predicted, data.test.targets.cpu()):
            kept = gold != IGNORE  # one position per word: its first sub-word token
            true_tags.append([names[i] for i in gold[kept].tolist()])
            predicted_tags.append([names[i] for i in guess[kept].tolist()])
        scores = entity_scores(true_tags, predicted_tags)
        return {f"test_entity_{k}": v for k, v in scores.items()} | self.save(run_dir, trainer, data)


TOKEN_CLASSIFY = TokenClassify()
