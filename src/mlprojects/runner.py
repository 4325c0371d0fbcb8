"""Running a project end to end: settings -> data -> model -> engine -> run directory.

A run directory holds ``config.yaml`` (resolved settings), ``history.jsonl``, ``checkpoint.safetensors``
(weights, optimizer, RNG and epoch state), ``model.safetensors``, ``plots/``, ``tensorboard/`` and,
only once everything is written, ``metrics.json`` with ``completed: true``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import yaml

from mlprojects import config as configuration
from mlprojects import registry
from mlprojects.errors import UserError

CONFIG, METRICS, HISTORY, CHECKPOINT, WEIGHTS = "config.yaml", "metrics.json", "history.jsonl", "checkpoint.safetensors", "model.safetensors"
RESUMABLE = {"epochs", "early_stopping", "eval_batch_size"}


def resolve_settings(name: str, overrides: dict[str, Any], config_file: str | None = None,
                     seed: int | None = None):
    project = registry.get(name)
    layers = []
    if config_file:
        from_file = configuration.load_yaml(config_file)
        named = from_file.pop("project", name)
        if named != name:
            raise UserError(f"config file {config_file} is for project {named!r}, not {name!r}")
        layers.append(from_file)
    layers.append(overrides)
    if seed is not None:
        layers.append({"seed": seed})
    return project, configuration.resolve(project.config_class, *layers)


def read_run_config(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise UserError(f"{run_dir} is not a run directory (no {CONFIG})")
    return configuration.load_yaml(path)


def default_out(name: str, root: Path = Path("runs")) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / name / stamp
    candidate, suffix = base, 1
    while candidate.exists():
        candidate, suffix = base.with_name(f"{stamp}-{suffix}"), suffix + 1
    return candidate


def run(name: str | None = None, overrides: dict[str, Any] | None = None, *, config_file: str | None = None,
        out: str | Path | None = None, device: str = "auto", seed: int | None = None,
        resume: str | Path | None = None, progress: bool = True) -> Path:
    """Train and evaluate a project (or continue a run); returns the run directory."""
    import torch

    from mlprojects.engine import checkpoint, distributed
    from mlprojects.engine import device as devices
    from mlprojects.engine.callbacks import Checkpointer, EarlyStopping, HistoryWriter, ProgressBar, TensorBoardLogger
    from mlprojects.engine.io import write_json
    from mlprojects.engine.optim import build_optimizer, build_scheduler
    from mlprojects.engine.trainer import Trainer

    overrides = dict(overrides or {})
    if resume is not None:
        saved = read_run_config(Path(resume))
        name = saved.pop("project", None)
        if is_estimator_project(registry.get(name)) or is_demo_project(registry.get(name)):
            raise UserError(f"{resume}: {name} fits in one pass; there is nothing to resume, run it again")
        changed = set(overrides) - RESUMABLE
        if changed:
            raise UserError(f"cannot change {', '.join(sorted(changed))} when resuming; only {', '.join(sorted(RESUMABLE))}")
        project = registry.get(name)
        cfg = configuration.resolve(project.config_class, saved, overrides)
    else:
        project, cfg = resolve_settings(name, overrides, config_file, seed)

    context = distributed.from_environment()
    if is_demo_project(project):
        if context.distributed:
            raise UserError(f"{name} is a demonstration without training; --nproc is for trained networks")
        return run_demo(name, project, cfg, out)
    if is_estimator_project(project):
        if context.distributed:
            raise UserError(f"{name} fits one estimator in one process; --nproc is for trained networks")
        return run_estimator(name, project, cfg, out, devices.resolve(device))
    target = devices.resolve(device, context.local_rank)
    if context.distributed and target.type == "cpu":
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", context.world_size))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    distributed.init(context, target)
    started = time.perf_counter()
    try:
        torch.manual_seed(cfg.seed)
        data = project.prepare(cfg)
        train = data.train
        val = project.validation(cfg, data)
        if val is None and cfg.val_fraction:
            train, val = train.split(cfg.val_fraction, cfg.seed)
        if val is not None:
            val = val.to(target)
        train, data.test = train.to(target), data.test.to(target)
        model = project.build_model(cfg)  # identical on every rank: seeded above
        if resume is None:
            project.adapt(model, train)
        model = model.to(target)
        torch.manual_seed(cfg.seed + context.rank)  # dropout and other sampling differ per rank
        optimizer = build_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.momentum, cfg.weight_decay)
        scheduler = build_scheduler(cfg.lr_schedule, optimizer, cfg.epochs, cfg.lr_step, cfg.lr_gamma)
        if cfg.compile:
            model = torch.compile(model)

        run_dir = Path(resume) if resume is not None else Path(out) if out is not None else default_out(name)
        run_dir = Path(distributed.broadcast_text(str(run_dir), target))
        if context.is_main:
            open_run_dir(run_dir, name, cfg, resuming=resume is not None)
        distributed.barrier()

        metrics = project.metrics(cfg)
        callbacks: list = []
        if cfg.early_stopping:
            callbacks.append(EarlyStopping("val_loss", cfg.early_stopping))
        if context.is_main:
            callbacks += [Checkpointer(run_dir / CHECKPOINT), HistoryWriter(run_dir / HISTORY),
                          TensorBoardLogger(run_dir / "tensorboard")]
            if progress:
                callbacks.append(ProgressBar(cfg.epochs, list(metrics)))
        trainer = Trainer(model, project.loss_fn(cfg), optimizer, scheduler, device=target, context=context,
                          metrics=metrics, precision=cfg.precision,
                          channels_last=getattr(cfg, "channels_last", False), callbacks=callbacks,
                          eval_batch_size=cfg.eval_batch_size, transform=project.train_transform(cfg),
                          grad_clip=cfg.grad_clip)
        start_epoch = 0
        if resume is not None:
            state = checkpoint.load(run_dir / CHECKPOINT, trainer.model, optimizer, scheduler)
            trainer.history, start_epoch = state["history"], state["epoch"]
            for callback in callbacks:
                callback.load_state_dict(state.get("callbacks", {}).get(type(callback).__name__, {}))

        trainer.fit(train, epochs=cfg.epochs, batch_size=cfg.batch_size, seed=cfg.seed, val=val,
                    start_epoch=start_epoch)
        test = trainer.evaluate(data.test)
        if context.is_main:
            checkpoint.save_weights(run_dir / WEIGHTS, trainer.model, {"project": name})
            extra = project.report(run_dir, cfg, trainer, data)
            write_json(run_dir / METRICS, summarize(trainer.history, test, extra, target, context.world_size,
                                                    time.perf_counter() - started))
        distributed.barrier()
        return run_dir
    finally:
        distributed.shutdown()


def is_estimator_project(project) -> bool:
    from mlprojects.projects.base import EstimatorProject

    return isinstance(project, EstimatorProject)


def is_demo_project(project) -> bool:
    """A demonstration (conv-demo): ``project.run(run_dir, cfg)`` writes its figures, nothing is trained."""
    return callable(getattr(project, "run", None))


def run_demo(name: str, project, cfg, out: str | Path | None) -> Path:
    from mlprojects.engine.io import write_json

    started = time.perf_counter()
    run_dir = Path(out) if out is not None else default_out(name)
    with fresh_run_dir(run_dir, name, cfg):
        figures = project.run(run_dir, cfg)
        write_json(run_dir / METRICS, {**figures, "duration_s": round(time.perf_counter() - started, 2),
                                       "completed": True})
    return run_dir


@contextlib.contextmanager
def fresh_run_dir(run_dir: Path, name: str, cfg):
    """A new run directory for a one-pass run; removed again if the run fails (bad data, a bad image),
    so a mistake leaves nothing half-written behind."""
    existed = run_dir.exists()
    open_run_dir(run_dir, name, cfg)
    try:
        yield run_dir
    except BaseException:
        if existed:
            for leftover in (CONFIG, METRICS, WEIGHTS, HISTORY):
                (run_dir / leftover).unlink(missing_ok=True)
            shutil.rmtree(run_dir / "plots", ignore_errors=True)
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def open_run_dir(run_dir: Path, name: str, cfg, resuming: bool = False) -> None:
    """Create the run directory and write its settings; a finished run is never overwritten."""
    from mlprojects.engine.io import write_text

    if not resuming and (run_dir / CONFIG).exists():
        raise UserError(f"{run_dir} already holds a run: choose another --out, or --resume it")
    run_dir.mkdir(parents=True, exist_ok=True)
    if (run_dir / METRICS).exists():  # resuming: the run is not complete until it ends again
        os.unlink(run_dir / METRICS)
    write_text(run_dir / CONFIG, yaml.safe_dump({"project": name, **configuration.to_dict(cfg)}, sort_keys=False))


def run_estimator(name: str, project, cfg, out: str | Path | None, device) -> Path:
    """Fit a classic-model project: data -> estimator -> test figures, plots, model.safetensors."""
    started = time.perf_counter()
    run_dir = Path(out) if out is not None else default_out(name)
    with fresh_run_dir(run_dir, name, cfg):
        return _fit_estimator(run_dir, project, cfg, device, started)


def _fit_estimator(run_dir: Path, project, cfg, device, started: float) -> Path:
    import json

    import numpy as np
    import torch

    from mlprojects import estimators
    from mlprojects.engine.io import write_json, write_text

    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    data = project.prepare(cfg)
    estimator = project.build_estimator(cfg, str(device))
    fit_started = time.perf_counter()
    estimator = project.fit(cfg, estimator, data)
    fit_seconds = time.perf_counter() - fit_started
    history = [{"epoch": epoch, "loss": loss} for epoch, loss in enumerate(getattr(estimator, "loss_curve_", []), 1)]
    if len(history) > 1:  # an estimator trained in epochs: its loss curve, like a network's history
        write_text(run_dir / HISTORY, "".join(json.dumps(row) + "\n" for row in history))
    test = project.evaluate(cfg, estimator, data)
    estimators.save(estimator, run_dir / WEIGHTS)
    extra = project.report(run_dir, cfg, estimator, data)
    result = {f"test_{k}": v for k, v in test.items()}
    result.update(extra)
    result.update({"fit_seconds": round(fit_seconds, 4), "device": str(device), "torch_version": torch.__version__,
                   "duration_s": round(time.perf_counter() - started, 2), "completed": True})
    write_json(run_dir / METRICS, result)
    return run_dir


def summarize(history: Sequence[dict], test: dict, extra: dict, device, world_size: int, duration: float) -> dict:
    import torch

    last = history[-1] if history else {}
    timed = [row for row in history if row.get("time_s")]
    seen = sum(row["samples_per_sec"] * row["time_s"] for row in timed)
    result: dict[str, Any] = {f"test_{k}": v for k, v in test.items()}
    result.update({f"train_{k}": last[k] for k in last if k not in ("epoch", "lr", "time_s", "samples_per_sec")
                   and not k.startswith("val_") and isinstance(last[k], float)})
    result.update({k: last[k] for k in last if k.startswith("val_")})
    result.update(extra)
    result.update({
        "train_samples_per_sec": seen / sum(row["time_s"] for row in timed) if timed else None,
        "epochs_completed": len(history),
        "early_stopped": bool(last.get("early_stopped", False)),
        "device": str(device), "world_size": world_size, "torch_version": torch.__version__,
        "duration_s": round(duration, 2),
        "completed": True,
    })
    return result
