"""What both fine-tuning projects share (text-classify, token-classify): a pretrained model and two files from
the settings, labels from the training file, truncation counted, the result written with ``save_pretrained``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from mlprojects.config import OPTIMIZERS, TrainConfig, setting
from mlprojects.engine import TensorData, Trainer
from mlprojects.errors import UserError
from mlprojects.project import Prepared, Project


@dataclass
class FineTuneConfig(TrainConfig):
    """Settings of both fine-tuning projects: a pretrained model, two files, the usual recipe."""

    model: str = setting("", "pretrained model: hub id or folder (required)")
    train: str = setting("", "training file (required): .csv/.jsonl for texts, CoNLL/.jsonl for tagged tokens")
    eval: str = setting("", "evaluation file, same format (required)")
    max_length: int = setting(128, "sub-word tokens per input; longer inputs are truncated", gt=0)
    epochs: int = setting(3, "passes over the training data")
    batch_size: int = setting(16, "global batch size")
    optimizer: Literal[OPTIMIZERS] = setting("adamw", "optimizer: " + ", ".join(OPTIMIZERS))
    lr: float = setting(5e-5, "learning rate")
    weight_decay: float = setting(0.01, "weight decay (AdamW's, decoupled)")
    eval_batch_size: int = setting(64, "batch size for evaluation and prediction")


class SequenceClassifier(nn.Module):
    """A Hugging Face classifier behind one tensor: inputs (N, 2, L) hold input_ids and attention_mask."""

    def __init__(self, hf_model):
        super().__init__()
        self.hf = hf_model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.hf(input_ids=inputs[:, 0], attention_mask=inputs[:, 1]).logits


class FineTune(Project):
    """What both fine-tuning projects share (see the module's docstring)."""

    auto_class = ""  # the transformers Auto class of the head
    usage = ""

    def labels(self, cfg) -> list[str]:
        raise NotImplementedError

    def encode(self, cfg, tokenizer, path: str, label2id: dict[str, int]) -> tuple[TensorData, int]:
        """(inputs (N, 2, L) and targets, how many inputs were longer than max_length)."""
        raise NotImplementedError

    def prepare(self, cfg) -> Prepared:
        from mlprojects.nlp import hub

        missing = [name for name in ("model", "train", "eval") if not getattr(cfg, name)]
        if missing:
            raise UserError(f"{', '.join(missing)} must be given: {self.usage}")
        tokenizer = hub.load_tokenizer(cfg.model)
        label2id = {label: i for i, label in enumerate(self.labels(cfg))}
        if len(label2id) < 2:
            raise UserError(f"{cfg.train}: needs at least 2 distinct labels")
        with warnings.catch_warnings():  # long inputs: counted and reported below, not warned one by one
            warnings.simplefilter("ignore")
            train, cut_train = self.encode(cfg, tokenizer, cfg.train, label2id)
            test, cut_eval = self.encode(cfg, tokenizer, cfg.eval, label2id)
        if cut_train or cut_eval:
            warnings.warn(f"{cut_train} training and {cut_eval} evaluation inputs are longer than "
                          f"max_length={cfg.max_length} tokens and were truncated", stacklevel=2)
        return Prepared(train, test, {"tokenizer": tokenizer, "label2id": label2id,
                                      "truncated": {"train": cut_train, "eval": cut_eval}})

    def build_model(self, cfg, preparation: Any = None) -> SequenceClassifier:
        from mlprojects.nlp import hub

        labels = self.labels(cfg)
        hf_model, _ = hub.load(cfg.model, self.auto_class, num_labels=len(labels),
                               id2label=dict(enumerate(labels)), label2id={name: i for i, name in enumerate(labels)})
        return SequenceClassifier(hf_model)

    def dynamic_dims(self, cfg) -> dict[int, str]:
        """Inputs (N, 2, L): token ids and attention mask of any number of texts of any length."""
        return {0: "batch", 2: "tokens"}

    def model_for_run(self, cfg, run_dir: Path, preparation: Any = None) -> SequenceClassifier:
        """The fine-tuned model as save_pretrained wrote it (the pretrained model it started from may be gone)."""
        from mlprojects.nlp import hub

        hf_model, _ = hub.load(str(Path(run_dir) / "model"), self.auto_class)
        return SequenceClassifier(hf_model)

    def save(self, run_dir: Path, trainer: Trainer, data: Prepared) -> dict[str, Any]:
        """The model and tokenizer as save_pretrained writes them, and the learning curves."""
        from mlprojects import plots
        from mlprojects.engine.checkpoint import unwrap

        unwrap(trainer.model).hf.save_pretrained(run_dir / "model")
        data.meta["tokenizer"].save_pretrained(run_dir / "model")
        plots.learning_curves(trainer.history, run_dir / "plots" / "learning_curves.png")
        return {"labels": list(data.meta["label2id"]), "truncated_inputs": data.meta["truncated"],
                "saved_model": str(run_dir / "model")}
