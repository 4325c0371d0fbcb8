"""text-classify: fine-tune a pretrained transformer for sequence classification (the Hugging Face
notebook), on the same engine as every other project: progress bar, checkpoints, ``--resume``,
``--nproc``. ``mlprojects nlp finetune-classify`` runs it.

Labels are the training file's distinct values, sorted, stored in the model's config as
``id2label``/``label2id``; an evaluation label the training file lacks is an error. Texts longer
than ``max_length`` tokens are truncated (the count is reported). The result is written with
``save_pretrained`` (safetensors, config JSON, tokenizer) under the run's ``model/``, so plain
transformers reloads it: ``AutoModelForSequenceClassification.from_pretrained(RUN/model)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mlprojects.builtin.fine_tune import FineTune, FineTuneConfig
from mlprojects.config import setting
from mlprojects.engine import TensorData, Trainer
from mlprojects.errors import UserError
from mlprojects.inputs import TextInputs
from mlprojects.project import Prepared


@dataclass
class TextClassifyConfig(FineTuneConfig):
    text_column: str = setting("text", "column holding the text")
    label_column: str = setting("label", "column holding the label")


class TextClassify(FineTune):
    config_class = TextClassifyConfig
    # plus what its entry needs (model, train, eval): the tests write them, a user gives them
    smoke_settings: dict[str, Any] = {"epochs": 3, "batch_size": 8, "lr": 0.005}
    auto_class = "AutoModelForSequenceClassification"
    inputs = TextInputs("text-classification")  # applied by this task of `mlprojects nlp run`
    usage = "mlprojects nlp finetune-classify --model M --train train.csv --eval eval.csv"

    def labels(self, cfg: TextClassifyConfig) -> list[str]:
        from mlprojects.nlp.data import read_labelled

        _, labels = read_labelled(cfg.train, cfg.text_column, cfg.label_column)
        return sorted(set(labels))

    def encode(self, cfg: TextClassifyConfig, tokenizer, path: str, label2id: dict[str, int]) -> tuple[TensorData, int]:
        from mlprojects.nlp.data import read_labelled

        texts, labels = read_labelled(path, cfg.text_column, cfg.label_column)
        unknown = sorted(set(labels) - set(label2id))
        if unknown:
            raise UserError(f"{path}: label(s) {', '.join(map(repr, unknown))} do not occur in the training file "
                            f"{cfg.train} (labels: {', '.join(label2id)})")
        full = tokenizer(texts, truncation=False)["input_ids"]
        truncated = sum(len(ids) > cfg.max_length for ids in full)
        encoded = tokenizer(texts, truncation=True, max_length=cfg.max_length, padding="longest", return_tensors="pt")
        inputs = torch.stack([encoded["input_ids"], encoded["attention_mask"]], 1)
        return TensorData(inputs, torch.tensor([label2id[label] for label in labels])), truncated

    def report(self, run_dir: Path, cfg: TextClassifyConfig, trainer: Trainer, data: Prepared) -> dict[str, Any]:
        from sklearn.metrics import f1_score

        from mlprojects import plots

        predicted = trainer.predict(data.test.inputs).argmax(1).cpu().numpy()
        true = data.test.targets.cpu().numpy()
        figures = self.save(run_dir, trainer, data)
        plots.confusion_matrix(plots.confusion_counts(predicted, true, len(figures["labels"])), figures["labels"],
                               run_dir / "plots" / "confusion_matrix.png", "evaluation file")
        return {"test_macro_f1": float(f1_score(true, predicted, average="macro")), **figures}


TEXT_CLASSIFY = TextClassify()
