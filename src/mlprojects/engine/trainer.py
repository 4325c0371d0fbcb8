"""fit / evaluate / predict for any model, loss and in-memory dataset, on one process or many.

The inner loop is kept as close to a hand-written PyTorch loop as possible (its overhead is
measured in ``benchmarks/bench_mlp.py`` and ``benchmarks/bench_engine.py``): each step's loss and
outputs are only held, and summed on the device every ``FLUSH_STEPS`` steps (a few operations per
stretch instead of six small ones a step, about 30 µs a step before), so there is no per-step host
sync and the figures do not depend on when the progress bar reads them.

Under ``torchrun`` every rank walks the same shuffled global batches and takes every
world_size-th sample of each; the loss is a sum scaled by world_size / global_batch, so DDP's
gradient average equals the single-process gradient of the mean loss over the global batch.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Callable, Sequence

import torch
from torch import nn
from torch.utils.data import Dataset

from mlprojects.engine import device as devices
from mlprojects.engine import distributed, linear, memory
from mlprojects.engine.checkpoint import unwrap
from mlprojects.engine.data import TensorData, batches, epoch_order, loader_batches
from mlprojects.errors import UserError


class Diverged(UserError):
    """Training stopped at the first non-finite training loss (Keras' TerminateOnNaN), on every rank at the
    same step; ``epoch`` and ``step`` count from 1."""

    def __init__(self, epoch: int, step: int, steps: int, loss: float):
        self.epoch, self.step, self.steps, self.loss = epoch, step, steps, loss
        super().__init__(f"training diverged: the loss became {loss} at epoch {epoch}, step {step} of {steps}")


LossFn = Callable[..., torch.Tensor]  # loss_fn(outputs, targets, reduction="mean"|"sum")
FLUSH_STEPS = 64  # steps whose losses and outputs are held before they are summed on the device
FLUSH_ELEMENTS = 1 << 20  # or sooner, when the held outputs reach this many numbers (a big output per step)
MetricFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # -> sum over the batch


def correct_count(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Accuracy's numerator: how many arg-max predictions equal the labels."""
    return (outputs.argmax(1) == targets).sum()


def absolute_error_sum(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The mean absolute error's numerator (the engine divides metric sums by the sample count)."""
    return (outputs - targets).abs().sum()


@torch.no_grad()
def predict(model: nn.Module, inputs: torch.Tensor, batch_size: int, device: torch.device | str = "cpu",
            autocast=None, memory_format=None) -> torch.Tensor:
    """A model's float32 outputs for ``inputs``, in batches, in eval mode: how the trainer predicts, and how
    a finished run is applied to new data (``mlprojects predict``), so both give the same numbers."""
    model, device = unwrap(model), torch.device(device)
    if model.training:  # setting every module's mode took a fifth of a one-row prediction
        model.eval()
    outputs = []
    # large dense layers through oneDNN where that is faster (engine/linear.py); not for one row, which no layer of
    # a table's or an image's network multiplies in enough products to gain the context's 10 µs (a served request)
    dense = device.type == "cpu" and len(inputs) > 1
    with linear.through_onednn(model) if dense else contextlib.nullcontext():
        for start in range(0, len(inputs), batch_size):
            # each step only where it changes something: a served row's prediction is a few operators, each of which
            # costs several times its warm figure when a request finds the caches cold
            batch = inputs if len(inputs) <= batch_size else inputs[start:start + batch_size]
            if batch.device != device:
                batch = batch.to(device)
            if memory_format is not None and batch.dim() == 4:
                batch = batch.contiguous(memory_format=memory_format)
            with autocast or contextlib.nullcontext():
                out = model(batch)
            outputs.append(out if out.dtype == torch.float32 and out.device.type == "cpu" else out.float().cpu())
    return (outputs[0] if len(outputs) == 1 else torch.cat(outputs)) if outputs else torch.empty(0)


class Callback:
    def on_train_begin(self, trainer: "Trainer") -> None: ...
    def on_epoch_begin(self, trainer: "Trainer", epoch: int, steps: int) -> None: ...
    def on_step(self, trainer: "Trainer", step: int, seen: int) -> None: ...  # trainer.running_loss(): mean so far
    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict) -> None: ...
    def on_train_end(self, trainer: "Trainer") -> None: ...
    def on_train_abort(self, trainer: "Trainer", error: BaseException) -> None: ...
    def state_dict(self) -> dict: return {}
    def load_state_dict(self, state: dict) -> None: ...


class Trainer:
    def __init__(self, model: nn.Module, loss_fn: LossFn, optimizer: torch.optim.Optimizer,
                 scheduler=None, *, device: torch.device, context: distributed.Context | None = None,
                 metrics: dict[str, MetricFn] | None = None, precision: str = "fp32",
                 channels_last: bool = False, callbacks: Sequence[Callback] = (), eval_batch_size: int = 1000,
                 num_workers: int = 0, transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 grad_clip: float = 0.0):
        self.context = context or distributed.Context()
        self.device = device
        self.loss_fn, self.optimizer, self.scheduler = loss_fn, optimizer, scheduler
        self.metrics = {"accuracy": correct_count} if metrics is None else metrics
        # bf16 or fp16 autocast of the forward pass (mlprojects.engine.device.choose_precision); fp16's small
        # gradients are kept from underflowing by a gradient scaler (saved in checkpoints by the Checkpointer)
        self.autocast = devices.autocast(precision, device.type)
        self.scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
        self.memory_format = torch.channels_last if channels_last else None
        self.callbacks = list(callbacks)
        self.eval_batch_size, self.num_workers = eval_batch_size, num_workers
        self.transform = transform  # applied to each training batch on the device (augmentation)
        self.grad_clip = grad_clip  # > 0: the gradients' global norm is clipped to it before each step
        self.history: list[dict] = []
        self.running_loss: Callable[[], float] = lambda: 0.0  # the epoch's loss sum so far (train_epoch sets it)
        self.stop_training = False
        if self.memory_format is not None:
            model = model.to(memory_format=self.memory_format)
        # large float32 dense layers through oneDNN on the CPUs where PyTorch's own products are slow for them
        # (engine/linear.py); a compiled model is left to its compiler
        dense = device.type == "cpu" and precision == "fp32" and not hasattr(model, "_orig_mod")
        if self.context.distributed:
            device_ids = [device.index] if device.type == "cuda" else None
            model = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
        self.model = model
        self.dense_layers = (lambda: linear.through_onednn(model)) if dense else contextlib.nullcontext

    # --- training -------------------------------------------------------------------------

    def fit(self, train: TensorData | Dataset, *, epochs: int, batch_size: int, seed: int,
            val: TensorData | Dataset | None = None, start_epoch: int = 0) -> list[dict]:
        self.stop_training = False
        for callback in self.callbacks:
            callback.on_train_begin(self)
        for epoch in range(start_epoch, epochs):
            try:
                logs = self.train_epoch(train, batch_size, seed, epoch)
            except BaseException as error:  # a divergence, an interrupt: callbacks let go of what they hold
                memory.release_freed_memory()
                for callback in self.callbacks:
                    callback.on_train_abort(self, error)
                raise
            if val is not None:
                logs.update({f"val_{k}": v for k, v in self.evaluate(val).items()})
            if self.scheduler is not None:
                self.scheduler.step()
            self.history.append(logs)
            for callback in self.callbacks:
                callback.on_epoch_end(self, epoch, logs)
            if self.stop_training:
                break
        memory.release_freed_memory()
        for callback in self.callbacks:
            callback.on_train_end(self)
        return self.history

    def train_epoch(self, data: TensorData | Dataset, batch_size: int, seed: int, epoch: int) -> dict:
        """One epoch; its ``time_s`` runs from its start (before the callbacks' ``on_epoch_begin`` and the first
        batch) to the end of its last step, so ``samples_per_sec`` counts everything a step costs but evaluation."""
        started = time.perf_counter()
        if self.device.type == "cpu":  # a step's large tensors reuse their pages instead of faulting new ones in
            memory.keep_freed_memory()  # (engine/memory.py; once a process, then a flag read)
        model, optimizer, loss_fn, metrics = self.model, self.optimizer, self.loss_fn, self.metrics
        rank, world = self.context.rank, self.context.world_size
        n = len(data)
        steps = math.ceil(n / batch_size)
        lr = optimizer.param_groups[0]["lr"]
        if isinstance(data, TensorData):
            batch_iter = batches(data, batch_size, epoch_order(n, seed, epoch, data.inputs.device), rank, world)
        elif hasattr(data, "batches"):  # streaming data (a file larger than memory) makes its own batches
            batch_iter = data.batches(batch_size, seed, epoch, rank, world)
        else:
            batch_iter = loader_batches(data, batch_size, seed, epoch, self.device, rank, world, self.num_workers)
        loss_sum = torch.zeros((), device=self.device)
        metric_sums = {name: torch.zeros((), device=self.device) for name in metrics}
        # held since the last flush: each step's loss (a sum of the batch's, in units of BATCH_SIZE samples on one
        # process: the mean loss itself for a full batch) and its outputs and targets for the metrics
        losses: list[torch.Tensor] = []
        held: list[tuple[torch.Tensor, torch.Tensor]] = []
        held_elements = 0
        unit = batch_size if world == 1 else 1

        def pending() -> torch.Tensor:
            return torch.stack(losses).sum() * unit

        def flush() -> None:
            nonlocal loss_sum, held_elements
            if losses:
                loss_sum = loss_sum + pending()
                losses.clear()
            if held:
                alike = all(o.shape[1:] == held[0][0].shape[1:] and t.shape[1:] == held[0][1].shape[1:]
                            for o, t in held)
                pairs = [(torch.cat([o for o, _ in held]), torch.cat([t for _, t in held]))] if alike else held
                with torch.no_grad():
                    for name, metric in metrics.items():
                        for outputs, targets in pairs:
                            metric_sums[name] += metric(outputs, targets)
                held.clear()
                held_elements = 0

        # the mean loss so far, for a progress bar: read without flushing, so the sums never depend on when
        self.running_loss = lambda: float(loss_sum + pending() if losses else loss_sum)
        # the first step whose loss is not finite, kept on the device; read (and agreed on by every rank) each
        # step on a CPU, where reading it costs nothing, and every 32 steps on a GPU, where it waits for the GPU
        no_step = torch.tensor(steps, device=self.device)
        first_bad = no_step.clone()
        check_every = 1 if self.device.type == "cpu" else 32
        quick_check = self.device.type == "cpu" and world == 1
        steppers = [c for c in self.callbacks if type(c).on_step is not Callback.on_step]
        for callback in self.callbacks:
            callback.on_epoch_begin(self, epoch, steps)
        model.train()
        with self.dense_layers():
            for step, (inputs, targets) in enumerate(batch_iter):
                # the last step's gradients go first, as in a hand-written loop: their memory is free for the forward
                optimizer.zero_grad(set_to_none=True)
                if self.transform is not None:
                    inputs = self.transform(inputs)
                if self.memory_format is not None:
                    inputs = inputs.contiguous(memory_format=self.memory_format)
                with self.autocast:
                    outputs = model(inputs)
                if world == 1:
                    loss = loss_fn(outputs.float(), targets)
                    value = loss.detach()
                    losses.append(value if len(targets) == batch_size else value * (len(targets) / batch_size))
                else:
                    summed = loss_fn(outputs.float(), targets, reduction="sum")
                    loss = summed * (world / min(batch_size, n - step * batch_size))
                    value = loss.detach()
                    losses.append(summed.detach())
                if quick_check:  # one process on a CPU: reading the loss is free
                    number = value.item()
                    if not math.isfinite(number):
                        raise Diverged(epoch + 1, step + 1, steps, number)
                else:
                    first_bad = torch.where((first_bad == no_step) & ~torch.isfinite(value), step, first_bad)
                    if (step + 1) % check_every == 0 or step + 1 == steps:
                        self._stop_if_diverged(first_bad, no_step, epoch, steps, loss)
                if self.scaler is None:
                    loss.backward()
                    if self.grad_clip:
                        nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
                    optimizer.step()
                else:  # fp16: the loss scaled up, the gradients back down before clipping; a step with inf skipped
                    self.scaler.scale(loss).backward()
                    if self.grad_clip:
                        self.scaler.unscale_(optimizer)
                        nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
                    self.scaler.step(optimizer)
                    self.scaler.update()
                if metrics:
                    held.append((outputs.detach(), targets))
                    held_elements += outputs.numel()
                if len(losses) == FLUSH_STEPS or held_elements >= FLUSH_ELEMENTS:
                    flush()
                for callback in steppers:
                    callback.on_step(self, step, min((step + 1) * batch_size, n))
        flush()
        totals = distributed.all_reduce_sum(torch.stack([loss_sum, *metric_sums.values()]).double())
        elapsed = time.perf_counter() - started
        logs = {"epoch": epoch + 1, "loss": float(totals[0]) / n}
        logs.update({name: float(value) / n for name, value in zip(metrics, totals[1:])})
        logs.update({"lr": lr, "time_s": round(elapsed, 4), "samples_per_sec": n / elapsed})
        return logs

    def _stop_if_diverged(self, first_bad: torch.Tensor, no_step: torch.Tensor, epoch: int, steps: int,
                          loss: torch.Tensor) -> None:
        """Raise Diverged on every rank when any rank has met a non-finite loss (before this step updates
        the weights, where the check runs every step)."""
        agreed = distributed.all_reduce_min(first_bad.clone())
        if int(agreed) < int(no_step):
            value = float(loss.detach()) if not torch.isfinite(loss.detach()) else float("nan")
            raise Diverged(epoch + 1, int(agreed) + 1, steps, value)

    # --- evaluation and prediction ----------------------------------------------------------

    @torch.inference_mode()
    def evaluate(self, data: TensorData | Dataset, batch_size: int | None = None) -> dict[str, float]:
        """Mean loss and metrics over ``data``, sharded across ranks and summed."""
        model = unwrap(self.model)
        model.eval()
        rank, world = self.context.rank, self.context.world_size
        sums = torch.zeros(1 + len(self.metrics), dtype=torch.float64, device=self.device)
        size = batch_size or self.eval_batch_size
        batch_iter = (batches(data, size, None, rank, world) if isinstance(data, TensorData)
                      else data.batches(size, 0, None, rank, world) if hasattr(data, "batches")
                      else loader_batches(data, size, 0, None, self.device, rank, world, self.num_workers))
        with self.dense_layers():
            for inputs, targets in batch_iter:
                outputs = self._forward(model, inputs).float()
                values = [self.loss_fn(outputs, targets, reduction="sum")]
                values += [metric(outputs, targets) for metric in self.metrics.values()]
                sums += torch.stack([v.double() for v in values])
        sums = distributed.all_reduce_sum(sums)
        n = len(data)
        return {"loss": float(sums[0]) / n, **{name: float(v) / n for name, v in zip(self.metrics, sums[1:])}}

    @torch.inference_mode()
    def predict(self, inputs: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
        """Model outputs for ``inputs`` on this process (no sharding)."""
        return predict(self.model, inputs, batch_size or self.eval_batch_size, self.device, self.autocast,
                       self.memory_format)

    def _forward(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        if self.memory_format is not None and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=self.memory_format)
        with self.autocast:
            return model(inputs)
