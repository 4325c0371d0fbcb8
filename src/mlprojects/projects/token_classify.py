"""token-classify: fine-tune a pretrained transformer for token classification (NER), the Hugging
Face notebook's second fine-tuning, on the engine. ``mlprojects nlp finetune-tokens`` runs it.

Input: CoNLL files (word ... tag per line, sentences separated by blank lines) or JSONL
(``{"tokens": [...], "tags": [...]}``). A word's tag goes on its first sub-word token; special and
continuation tokens get -100, which the loss skips. Scored by entity (seqeval's definition: type,
start and end must all match): precision, recall, F1; plus token accuracy. Saved with
``save_pretrained`` under the run's ``model/`` with ``id2label``/``label2id``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F

from mlprojects.config import OPTIMIZERS, TrainConfig, positive, setting
from mlprojects.engine import TensorData, Trainer
from mlprojects.errors import UserError
from mlprojects.nlp.entities import IGNORE
from mlprojects.projects.base import Prepared, Project
from mlprojects.projects.text_classify import SequenceClassifier


@dataclass
class TokenClassifyConfig(TrainConfig):
    model: str = setting("", "pretrained model: hub id or folder (required)")
    train: str = setting("", "training file: CoNLL or .jsonl with tokens and tags (required)")
    eval: str = setting("", "evaluation file, same format (required)")
    max_length: int = setting(128, "sub-word tokens per sentence; longer sentences are truncated")
    epochs: int = setting(3, "passes over the training data")
    batch_size: int = setting(16, "global batch size")
    optimizer: Literal[OPTIMIZERS] = setting("adamw", "optimizer: " + ", ".join(OPTIMIZERS))
    lr: float = setting(5e-5, "learning rate")
    weight_decay: float = setting(0.01, "weight decay (AdamW's, decoupled)")
    eval_batch_size: int = setting(64, "batch size for evaluation and prediction")

    def __post_init__(self) -> None:
        super().__post_init__()
        positive(self, "max_length")


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


class TokenClassify(Project):
    name = "token-classify"
    config_class = TokenClassifyConfig
    smoke_settings: dict[str, Any] = {"epochs": 2}  # plus model/train/eval, set by the tests' fixture
    needs_download = True  # a model and tagged files: nothing embedded, the tests provide them

    def tags(self, cfg: TokenClassifyConfig) -> list[str]:
        from mlprojects.nlp.entities import read_tagged

        return sorted({tag for _, tags in read_tagged(cfg.train) for tag in tags})

    def encode(self, cfg, tokenizer, path: str, tag2id: dict[str, int]) -> tuple[TensorData, int]:
        from mlprojects.nlp.entities import align, read_tagged

        sentences = read_tagged(path)
        unknown = sorted({tag for _, tags in sentences for tag in tags} - set(tag2id))
        if unknown:
            raise UserError(f"{path}: tag(s) {', '.join(unknown)} do not occur in the training file {cfg.train}")
        words = [w for w, _ in sentences]
        full = tokenizer(words, is_split_into_words=True, truncation=False)
        truncated = sum(len(ids) > cfg.max_length for ids in full["input_ids"])
        encoded = tokenizer(words, is_split_into_words=True, truncation=True, max_length=cfg.max_length,
                            padding="longest", return_tensors="pt")
        labels = [align(encoded.word_ids(i), [tag2id[t] for t in tags]) for i, (_, tags) in enumerate(sentences)]
        inputs = torch.stack([encoded["input_ids"], encoded["attention_mask"]], 1)
        return TensorData(inputs, torch.tensor(labels)), truncated

    def prepare(self, cfg: TokenClassifyConfig) -> Prepared:
        from mlprojects.nlp import hub

        missing = [name for name in ("model", "train", "eval") if not getattr(cfg, name)]
        if missing:
            raise UserError(f"{', '.join(missing)} must be given: mlprojects nlp finetune-tokens --model M "
                            "--train train.conll --eval eval.conll")
        tokenizer = hub.load_tokenizer(cfg.model)
        if not getattr(tokenizer, "is_fast", False):
            raise UserError(f"--model {cfg.model}: token classification needs a fast tokenizer (for word ids)")
        tag2id = {tag: i for i, tag in enumerate(self.tags(cfg))}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train, cut_train = self.encode(cfg, tokenizer, cfg.train, tag2id)
            test, cut_eval = self.encode(cfg, tokenizer, cfg.eval, tag2id)
        if cut_train or cut_eval:
            print(f"warning: {cut_train} training and {cut_eval} evaluation sentences are longer than "
                  f"max_length={cfg.max_length} tokens and were truncated", flush=True)
        return Prepared(train, test, {"tokenizer": tokenizer, "tag2id": tag2id,
                                      "truncated": {"train": cut_train, "eval": cut_eval}})

    def build_model(self, cfg: TokenClassifyConfig) -> SequenceClassifier:
        from mlprojects.nlp import hub

        tags = self.tags(cfg)
        hf_model, _ = hub.load(cfg.model, "AutoModelForTokenClassification", num_labels=len(tags),
                               id2label=dict(enumerate(tags)), label2id={t: i for i, t in enumerate(tags)})
        return SequenceClassifier(hf_model)  # the same wrapper: logits (N, L, tags)

    def loss_fn(self, cfg):
        return token_loss

    def metrics(self, cfg):
        return {"accuracy": token_accuracy}

    def report(self, run_dir: Path, cfg: TokenClassifyConfig, trainer: Trainer, data: Prepared) -> dict[str, Any]:
        from mlprojects import plots
        from mlprojects.engine.checkpoint import unwrap
        from mlprojects.nlp.entities import entity_scores

        names = list(data.meta["tag2id"])
        predicted = trainer.predict(data.test.inputs).argmax(-1).cpu()
        targets = data.test.targets.cpu()
        true_tags, predicted_tags = [], []
        for guess, gold in zip(predicted, targets):
            kept = gold != IGNORE  # one position per word: its first sub-word token
            true_tags.append([names[i] for i in gold[kept].tolist()])
            predicted_tags.append([names[i] for i in guess[kept].tolist()])
        scores = entity_scores(true_tags, predicted_tags)
        model = unwrap(trainer.model).hf
        model.save_pretrained(run_dir / "model")
        data.meta["tokenizer"].save_pretrained(run_dir / "model")
        plots.learning_curves(trainer.history, run_dir / "plots" / "learning_curves.png")
        return {f"test_entity_{k}": v for k, v in scores.items()} | {
            "tags": names, "truncated_sentences": data.meta["truncated"], "saved_model": str(run_dir / "model")}


TOKEN_CLASSIFY = TokenClassify()
