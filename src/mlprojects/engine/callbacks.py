"""What happens around the training loop: progress, history, TensorBoard, checkpoints, early stop.

Only rank 0 gets the writing callbacks; every rank gets :class:`EarlyStopping`, whose decision
comes from all-reduced metrics and so is the same on every rank.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from mlprojects.engine import checkpoint
from mlprojects.engine.io import dumps, write_text
from mlprojects.engine.trainer import Callback, Trainer


def _format(logs: dict, keys: list[str]) -> str:
    return " - ".join(f"{k} {logs[k]:.4f}" for k in keys if k in logs and isinstance(logs[k], float))


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (where a bar is drawn as HTML, not as lines)."""
    shell = sys.modules.get("IPython") and getattr(sys.modules["IPython"], "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


class NotebookBar:
    """One HTML progress bar for a whole run in a notebook, updated in place (no widgets needed)."""

    def __init__(self, epochs: int):
        from IPython.display import HTML, display

        self.epochs, self.html = epochs, HTML
        self.handle = display(HTML(""), display_id=True)
        self.summary = ""

    def show(self, epoch: int, step: int, steps: int, status: str) -> None:
        done = epoch * steps + step
        self.handle.update(self.html(
            f'<progress value="{done}" max="{self.epochs * steps}" style="width:40%"></progress> '
            f"<code>epoch {epoch + 1}/{self.epochs} · step {step}/{steps} {status}</code>"
            + (f"<br><code>{self.summary}</code>" if self.summary else "")))


class ProgressBar(Callback):
    """A bar per epoch with loss and metrics, like Keras' ``fit``; in a notebook one HTML bar for the run;
    one line per epoch elsewhere without a TTY."""

    def __init__(self, epochs: int, metric_names: list[str], stream=None, refresh_s: float = 0.25):
        self.epochs, self.metric_names = epochs, metric_names
        self.stream = stream or sys.stderr
        self.notebook = NotebookBar(epochs) if stream is None and in_notebook() else None
        self.interactive = self.stream.isatty() and not os.environ.get("CI") and self.notebook is None
        self.refresh_s = refresh_s
        self.progress = None

    def on_epoch_begin(self, trainer: Trainer, epoch: int, steps: int) -> None:
        self.next_refresh = time.monotonic() + self.refresh_s
        self.epoch, self.steps = epoch, steps
        if self.notebook is not None:
            self.notebook.show(epoch, 0, steps, "")
        if not self.interactive:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(TextColumn(f"epoch {epoch + 1}/{self.epochs}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
                                 console=Console(file=self.stream), transient=True)
        self.task = self.progress.add_task("train", total=steps, status="")
        self.progress.start()

    def on_step(self, trainer: Trainer, step: int, seen: int) -> None:
        if (self.progress is None and self.notebook is None) or time.monotonic() < self.next_refresh:
            return
        self.next_refresh = time.monotonic() + self.refresh_s
        # approximate on multi-process runs: this rank's loss over the global count
        share = seen / trainer.context.world_size if trainer.context.distributed else seen
        status = f"loss {trainer.running_loss() / max(share, 1):.4f}"
        if self.notebook is not None:
            self.notebook.show(self.epoch, step + 1, self.steps, status)
        else:
            self.progress.update(self.task, completed=step + 1, status=status)

    def on_train_abort(self, trainer: Trainer, error: BaseException) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
        keys = ["loss", *self.metric_names, "val_loss", *[f"val_{m}" for m in self.metric_names]]
        status = f"{_format(logs, keys)} - {logs['samples_per_sec']:.0f} samples/s"
        if self.progress is not None:  # the live bar goes; the epoch's summary line stays
            self.progress.stop()
            self.progress = None
        if self.notebook is not None:  # the bar stays, with the last epoch's figures under it
            self.notebook.summary = f"epoch {epoch + 1}/{self.epochs} - {logs['time_s']:.1f}s - {status}"
            self.notebook.show(epoch, self.steps, self.steps, "")
            return
        print(f"epoch {epoch + 1}/{self.epochs} - {logs['time_s']:.1f}s - {status}", file=self.stream, flush=True)


class HistoryWriter(Callback):
    """``history.jsonl``: one JSON line per epoch, rewritten whole (and atomically) each epoch."""

    def __init__(self, path: Path):
        self.path = path

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
        write_text(self.path, "".join(dumps(row) + "\n" for row in trainer.history))


def summary_writer(log_dir: Path):
    from mlprojects.engine.events import SummaryWriter  # TensorBoard's writer, without TensorFlow

    return SummaryWriter(str(log_dir))


class TensorBoardLogger(Callback):
    """Scalars every epoch; the model's graph once (traced on ``example``); with ``histograms``, every
    parameter's weights and last gradients every epoch."""

    def __init__(self, log_dir: Path, example: torch.Tensor | None = None, histograms: bool = False):
        self.log_dir, self.writer = log_dir, None
        self.example, self.histograms = example, histograms

    def on_train_begin(self, trainer: Trainer) -> None:
        self.writer = summary_writer(self.log_dir)
        if self.example is not None:
            import warnings

            model = checkpoint.unwrap(trainer.model)
            disabled = logging.root.manager.disable
            try:
                # tracing warns about Python control flow, and a library may log while it reads every attribute
                # (transformers: "loss_type=None ... unrecognized"): the graph is a picture
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    logging.disable(logging.WARNING)
                    self.writer.add_graph(model, self.example.to(trainer.device))
            except Exception as error:  # noqa: BLE001 - a model jit.trace cannot follow keeps its scalars
                warnings.warn(f"TensorBoard: the model's graph could not be traced ({type(error).__name__})",
                              stacklevel=2)
            finally:
                logging.disable(disabled)
            model.train()

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
        for key, value in logs.items():
            if key != "epoch" and isinstance(value, (int, float)) and math.isfinite(value):
                group = "val" if key.startswith("val_") else ("train" if key in ("loss", *trainer.metrics) else "info")
                self.writer.add_scalar(f"{key.removeprefix('val_')}/{group}", value, epoch + 1)
        if self.histograms:
            for name, parameter in checkpoint.unwrap(trainer.model).named_parameters():
                self.writer.add_histogram(f"weights/{name}", parameter.detach().float().cpu(), epoch + 1)
                if parameter.grad is not None:
                    self.writer.add_histogram(f"gradients/{name}", parameter.grad.detach().float().cpu(), epoch + 1)
        self.writer.flush()

    def on_train_end(self, trainer: Trainer) -> None:
        if self.writer is not None:
            self.writer.close()


def penultimate_features(model: torch.nn.Module, inputs: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """What the model's last linear layer reads, for INPUTS: the features it classifies (for TensorBoard's
    embedding projector)."""
    model = checkpoint.unwrap(model)
    last = [module for module in model.modules() if isinstance(module, torch.nn.Linear)][-1]
    captured: list[torch.Tensor] = []
    handle = last.register_forward_hook(lambda module, args, output: captured.append(args[0].detach().float().cpu()))
    try:
        model.eval()
        with torch.no_grad():
            device = next(model.parameters()).device
            for start in range(0, len(inputs), batch_size):
                model(inputs[start:start + batch_size].to(device))
    finally:
        handle.remove()
    return torch.cat(captured).flatten(1)


def write_projector(log_dir: Path, features: torch.Tensor, labels: list[str], thumbnails: torch.Tensor) -> None:
    """TensorBoard's embedding projector: one point per row of FEATURES, named by LABELS, drawn as THUMBNAILS
    ((N, C, H, W) in [0, 1])."""
    writer = summary_writer(log_dir)
    try:
        writer.add_embedding(features, metadata=labels, label_img=thumbnails, tag="test_set_penultimate_layer")
    finally:
        writer.close()


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs (Keras' rule, min_delta 0)."""

    def __init__(self, monitor: str = "val_loss", patience: int = 3, mode: str | None = None):
        self.monitor, self.patience = monitor, patience
        self.mode = mode or ("max" if "acc" in monitor else "min")
        self.best: float | None = None
        self.best_epoch = 0
        self.wait = 0

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
        value = logs[self.monitor]
        better = self.best is None or (value > self.best if self.mode == "max" else value < self.best)
        if better:
            self.best, self.best_epoch, self.wait = value, epoch + 1, 0
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.stop_training = True
                logs["early_stopped"] = True

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]


def optuna_pruner(name: str):
    """The pruners a search offers: Optuna's median rule (after 3 trials, from the second epoch), successive
    halving, or none."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)  # steps are epochs, from 1
    return optuna.pruners.SuccessiveHalvingPruner() if name == "halving" else optuna.pruners.NopPruner()


def optuna_storage(url: str):
    """A search's storage from its URL: a database's (``sqlite:///``, ``postgresql://``, ``mysql://``), or
    ``journal:PATH``, Optuna's journal file, for workers on machines that share a filesystem but no database."""
    if url.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        return JournalStorage(JournalFileBackend(url.removeprefix("journal:")))  # absolute: Search.storage_url
    return url


class Pruning(Callback):
    """A search's trial (``mlprojects sweep --search``): each epoch's validation figure METRIC reported to the Optuna
    trial TRIAL of STUDY in STORAGE, and the run stopped, marked ``pruned``, when the study's pruner says it cannot
    do well. It goes first among the callbacks, so that the epoch's row says so before it is written."""

    def __init__(self, storage: str, study: str, trial: int, metric: str, pruner: str = "median"):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # a storage keeps no pruner: the search names it
        study = optuna.load_study(study_name=study, storage=optuna_storage(storage), pruner=optuna_pruner(pruner))
        self.trial = optuna.trial.Trial(study, trial)
        self.metric = metric

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
        self.trial.set_user_attr("epochs", epoch + 1)  # what a search's --budget counts, diverged epochs too
        value = logs.get(self.metric)
        if value is None or not math.isfinite(value):
            return
        self.trial.report(float(value), epoch + 1)
        if self.trial.should_prune():
            trainer.stop_training = True
            logs["pruned"] = True


class Checkpointer(Callback):
    """An atomic checkpoint after every epoch: weights, optimizer, scheduler, RNG, history and
    the state of every other callback, so a resumed run continues exactly where this one stopped."""

    def __init__(self, path: Path, extra_state: Callable[[], dict[str, Any]] = dict):
        self.path, self.extra_state = path, extra_state

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
        state = {
            "epoch": epoch + 1,
            "history": trainer.history,
            "callbacks": {type(c).__name__: c.state_dict() for c in trainer.callbacks if c.state_dict()},
            **({"scaler": trainer.scaler.state_dict()} if trainer.scaler is not None else {}),
            **self.extra_state(),
        }
        checkpoint.save(self.path, trainer.model, trainer.optimizer, trainer.scheduler, state)
