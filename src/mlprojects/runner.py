"""Running a project end to end: settings -> data -> model -> engine -> run directory.

The runner dispatches on the project's kind (``mlprojects.project``): a trained project goes through
the engine in epochs, an estimator is fitted once, a demonstration computes its figures. What a run
directory holds, and how a finished one is read back, is ``mlprojects.rundir``.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

from mlprojects import config as configuration
from mlprojects import cores, registry, rundir
from mlprojects.errors import UserError

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


def run(name: str | None = None, overrides: dict[str, Any] | None = None, *, config_file: str | None = None,
        out: str | Path | None = None, device: str = "auto", seed: int | None = None,
        resume: str | Path | None = None, progress: bool = True, track: bool = False,
        trial: dict[str, Any] | None = None) -> Path:
    """Train and evaluate a project (or continue a run); returns the run directory. TRACK: copied to MLflow as it
    goes (``mlprojects.tracking``). TRIAL: the Optuna trial of a search this run is (storage, study, trial,
    metric): each epoch's validation figure is reported to it, and its pruner may stop the run."""
    if resume is None:
        registry.entry(name)  # an unknown name is one line at once, before torch's import (4.5 s to say it, before)
    import torch

    from mlprojects.engine import device as devices
    from mlprojects.engine import distributed

    overrides = dict(overrides or {})
    if track:
        from mlprojects import tracking

        tracking.mlflow()  # a missing extra is one line before anything runs
    if resume is None and out is not None and elastic() and (Path(out) / rundir.CHECKPOINT).is_file():
        resume, overrides = _restarted(name, overrides, config_file, seed, Path(out)), {}
    if resume is not None:
        saved = rundir.read_settings(resume)
        name = saved.pop("project", None)
        project = registry.get(name)
        if project.kind != "trained":
            raise UserError(f"{resume}: {name} fits in one pass; there is nothing to resume, run it again")
        rundir.refuse_diverged(Path(resume))
        changed = set(overrides) - RESUMABLE
        if changed:
            raise UserError(f"cannot change {', '.join(sorted(changed))} when resuming; "
                            f"only {', '.join(sorted(RESUMABLE))}")
        cfg = configuration.resolve(project.config_class, saved, overrides)
        rundir.check_data(Path(resume), project.inputs.data_file(cfg))
    else:
        project, cfg = resolve_settings(name, overrides, config_file, seed)

    context = distributed.from_environment()
    target = devices.resolve(device, context.local_rank)
    accept(project, target)
    if project.kind != "trained":
        if context.distributed and not project.distributed:
            raise UserError(one_process(project))
        if project.kind == "demo":
            run_dir = run_demo(name, project, cfg, out, target, context)
        else:
            run_dir = run_estimator(name, project, cfg, out, target)
        if track and context.is_main:
            tracking.Live(run_dir).finish()
        return run_dir
    devices.choose_precision(cfg.precision, target)  # fp16 off a GPU is one line before anything is read
    if context.distributed and target.type == "cpu":
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", context.world_size))
        torch.set_num_threads(cores.share(local_world))
    distributed.init(context, target)
    try:  # the model and its process group's hooks are gone when _train returns, before the group is destroyed:
        # a group still held at the interpreter's exit can abort the process (gloo's threads)
        return _train(name, project, cfg, out, resume, progress, context, target, track, trial)
    finally:
        distributed.shutdown()


def _train(name: str, project, cfg, out, resume, progress: bool, context, target, track: bool = False,
           trial: dict[str, Any] | None = None) -> Path:
    """The engine's part of :func:`run`, in the process group that ``run`` set up."""
    import torch

    from mlprojects.engine import checkpoint, distributed
    from mlprojects.engine import device as devices
    from mlprojects.engine.callbacks import Checkpointer, EarlyStopping, HistoryWriter, ProgressBar, TensorBoardLogger
    from mlprojects.engine.io import write_json
    from mlprojects.engine.optim import build_optimizer, build_scheduler
    from mlprojects.engine.trainer import Diverged, Trainer

    started = time.perf_counter()
    torch.manual_seed(cfg.seed)
    data = project.prepare(cfg)
    train = data.train
    val = project.validation(cfg, data)
    if val is None and cfg.val_fraction:
        train, val = train.split(cfg.val_fraction, cfg.seed)
    if val is not None:
        val = val.to(target)
    train, data.test = train.to(target), data.test.to(target)
    model = project.build_model(cfg, data.preparation)  # identical on every rank: seeded above
    if resume is None:
        project.adapt(model, train)
    model = model.to(target)
    precision, why = devices.choose_precision(cfg.precision, target, model)
    if why and context.is_main:
        if cfg.precision == "auto":
            if progress:
                print(why, file=sys.stderr, flush=True)
        else:
            warnings.warn(why, stacklevel=2)
    torch.manual_seed(cfg.seed + context.rank)  # dropout and other sampling differ per rank
    optimizer = build_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.momentum, cfg.weight_decay)
    scheduler = build_scheduler(cfg.lr_schedule, optimizer, cfg.epochs, cfg.lr_step, cfg.lr_gamma)
    if cfg.compile:
        model = torch.compile(model)

    run_dir = Path(resume) if resume is not None else Path(out) if out is not None else rundir.default_out(name)
    run_dir = Path(distributed.broadcast_text(str(run_dir), target))
    if context.is_main:  # restarted before the first checkpoint: the run starts again in its folder
        rundir.open_run(run_dir, name, cfg, resuming=resume is not None or elastic())
        if resume is None:
            rundir.record_data(run_dir, project.inputs.data_file(cfg))
    distributed.barrier()

    metrics = project.metrics(cfg)
    callbacks: list = []
    live = None  # the MLflow copy of the run (rank 0, with track)
    if trial is not None:
        from mlprojects.engine.callbacks import Pruning

        callbacks.append(Pruning(**trial))
    if cfg.early_stopping:
        callbacks.append(EarlyStopping("val_loss", cfg.early_stopping))
    if context.is_main:
        callbacks += [Checkpointer(run_dir / rundir.CHECKPOINT), HistoryWriter(run_dir / rundir.HISTORY),
                      TensorBoardLogger(run_dir / rundir.TENSORBOARD, project.example_inputs(data, 2), cfg.histograms)]
        if progress:
            callbacks.append(ProgressBar(cfg.epochs, list(metrics)))
        if track:
            from mlprojects.tracking import Live

            live = Live(run_dir)
            callbacks.append(live)
    trainer = Trainer(model, project.loss_fn(cfg), optimizer, scheduler, device=target, context=context,
                      metrics=metrics, precision=precision,
                      channels_last=project.channels_last(cfg), callbacks=callbacks,
                      eval_batch_size=cfg.eval_batch_size, transform=project.train_transform(cfg),
                      grad_clip=cfg.grad_clip)
    start_epoch = 0
    if resume is not None:
        state = checkpoint.load(run_dir / rundir.CHECKPOINT, trainer.model, optimizer, scheduler)
        trainer.history, start_epoch = state["history"], state["epoch"]
        if trainer.scaler is not None and "scaler" in state:
            trainer.scaler.load_state_dict(state["scaler"])
        for callback in callbacks:
            callback.load_state_dict(state.get("callbacks", {}).get(type(callback).__name__, {}))

    try:
        trainer.fit(train, epochs=cfg.epochs, batch_size=cfg.batch_size, seed=cfg.seed, val=val,
                    start_epoch=start_epoch)
    except Diverged as error:
        message = (f"{error}; try a lower lr (it is {cfg.lr:g}), --set grad_clip=1, or another optimizer "
                   f"(it is {cfg.optimizer}); the run is kept in {run_dir}, marked as diverged")
        if context.is_main:
            rundir.mark_diverged(run_dir, error.epoch, error.step, error.steps, error.loss, len(trainer.history),
                          message)
            if live is not None:
                live.finish()
        raise UserError(message) from None
    test = trainer.evaluate(data.test)
    if context.is_main:
        checkpoint.save_weights(run_dir / rundir.WEIGHTS, trainer.model, {"project": name, **model_metadata(data)})
        extra = project.report(run_dir, cfg, trainer, data)
        project.inputs.describe_in_tensorboard(run_dir / rundir.TENSORBOARD, trainer.model, project, cfg, data)
        write_json(run_dir / rundir.METRICS, summarize(trainer.history, test, {**extra, "precision": precision},
                                                       target, context.world_size, time.perf_counter() - started))
        if live is not None:
            live.finish()
    distributed.barrier()
    return run_dir


def model_metadata(data) -> dict[str, str]:
    """What model.safetensors carries besides the weights: how raw inputs are prepared (for predict)."""
    preparation = getattr(data, "preparation", None)
    return {"preparation": preparation.to_json()} if preparation is not None else {}


def elastic() -> bool:
    """Under torchrun with restarts, a process may be a restarted one: it decides between resuming and
    starting from the checkpoint on disk (TORCHELASTIC_RESTART_COUNT can differ between nodes)."""
    return int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0")) > 0


def _restarted(name, overrides, config_file, seed, out: Path) -> Path:
    """OUT, to resume: its checkpoint is this very run's (the same project and settings)."""
    _, cfg = resolve_settings(name, overrides, config_file, seed)
    saved = rundir.read_settings(out)
    if saved != {"project": name, **configuration.to_dict(cfg)}:
        raise UserError(f"{out} holds a checkpoint of another run; restarted processes resume only their own")
    return out


def accept(project, device) -> None:
    """A device the project does not run on is one line naming those it does."""
    if device.type not in project.devices:
        raise UserError(f"{project.name} runs on {' or '.join(project.devices)}, not {device.type}: use --device "
                        f"{project.devices[0]} (`mlprojects devices` lists what each project accepts)")


def one_process(project) -> str:
    """Why --nproc does not apply to a project that is not trained on the engine."""
    if project.kind == "demo":
        return f"{project.name} is a demonstration without training; --nproc is for trained networks"
    return f"{project.name} fits one estimator in one process; --nproc is for trained networks"


def run_demo(name: str, project, cfg, out: str | Path | None, device, context) -> Path:
    """A demonstration: computed on DEVICE by every process (a distributed one sums across them), its
    figures written by rank 0 into a new run directory, removed again if anything fails."""
    import contextlib

    from mlprojects.engine import distributed
    from mlprojects.engine.io import write_json

    started = time.perf_counter()
    distributed.init(context, device)
    try:
        run_dir = Path(out) if out is not None else rundir.default_out(name)
        run_dir = Path(distributed.broadcast_text(str(run_dir), device))
        with rundir.fresh_run(run_dir, name, cfg) if context.is_main else contextlib.nullcontext():
            figures = project.run(run_dir, cfg, device)
            if context.is_main:
                write_json(run_dir / rundir.METRICS, {**figures, "device": str(device),
                                                      "world_size": context.world_size,
                                                      "duration_s": round(time.perf_counter() - started, 2),
                                                      "completed": True})
        distributed.barrier()
        return run_dir
    finally:
        distributed.shutdown()


def run_estimator(name: str, project, cfg, out: str | Path | None, device) -> Path:
    """Fit a classic-model project: data -> estimator -> test figures, plots, model.safetensors."""
    started = time.perf_counter()
    run_dir = Path(out) if out is not None else rundir.default_out(name)
    with rundir.fresh_run(run_dir, name, cfg):
        return _fit_estimator(run_dir, project, cfg, device, started)


def _fit_estimator(run_dir: Path, project, cfg, device, started: float) -> Path:

    import numpy as np
    import torch

    from mlprojects import estimators
    from mlprojects.engine.io import dumps, write_json, write_text

    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    data = project.prepare(cfg)
    estimator = project.build_estimator(cfg, str(device))
    fit_started = time.perf_counter()
    estimator = project.fit(cfg, estimator, data)
    fit_seconds = time.perf_counter() - fit_started
    history = [{"epoch": epoch, "loss": loss} for epoch, loss in enumerate(getattr(estimator, "loss_curve_", []), 1)]
    if len(history) > 1:  # an estimator trained in epochs: its loss curve, like a network's history
        write_text(run_dir / rundir.HISTORY, "".join(dumps(row) + "\n" for row in history))
    test = project.evaluate(cfg, estimator, data)
    estimators.save(estimator, run_dir / rundir.WEIGHTS, {"project": project.name, **model_metadata(data)})
    extra = project.report(run_dir, cfg, estimator, data)
    result = {f"test_{k}": v for k, v in test.items()}
    result.update(extra)
    result.update({"fit_seconds": round(fit_seconds, 4), "device": str(device), "torch_version": torch.__version__,
                   "duration_s": round(time.perf_counter() - started, 2), "completed": True})
    write_json(run_dir / rundir.METRICS, result)
    return run_dir


def summarize(history: Sequence[dict], test: dict, extra: dict, device, world_size: int, duration: float) -> dict:
    import torch

    last = history[-1] if history else {}
    # training speed as Keras' users and the benchmarks measure it: over the epochs after the first (which also
    # warms up the allocator and the kernels), each from its start to its last step, evaluation left out
    timed = [row for row in (history[1:] if len(history) > 1 else history) if row.get("time_s")]
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
        **({"pruned": True} if last.get("pruned") else {}),
        "device": str(device), "world_size": world_size, "torch_version": torch.__version__,
        "duration_s": round(duration, 2),
        "completed": True,
    })
    return result
