"""LeNet training and inference speed: mlprojects' engine vs a plain PyTorch loop vs Keras 3 on TensorFlow.

The book's MNIST network (conv 5x5x32 -> max pool -> conv 5x5x64 -> max pool -> dense 1024 ->
dropout 0.5 -> 10, 3,274,634 parameters), Adam, batch 50, on synthetic uint8 28x28 images scaled
to [0, 1] (speed does not depend on the values). One training measurement is STEPS steps (200 =
10,000 samples, as in shared/peers-bench/bench_cnn.py) after 20 untimed warm-up steps; inference is
10,000 images at batch 1000. Interleaved child processes, medians of per-round ratios (harness.py).

    python benchmarks/bench_cnn.py                       # all implementations, 5 rounds
    python benchmarks/bench_cnn.py --impls keras-tf mlprojects --rounds 7
    python benchmarks/bench_cnn.py --precision bf16      # also our engine in bf16 autocast, and Keras in its
                                                         # mixed_bfloat16 policy (the same precision)

Implementations: keras-tf (NHWC, model.fit), torch-loop (the plain NCHW loop of pytorch/examples
with torch.optim.Adam's defaults), mlprojects (the engine as ``mlprojects run mnist-cnn`` runs it:
channels-last, fused Adam), mlprojects-nchw (``--set channels_last=false``), mlprojects-compile
(``--set compile=true``), and with ``--precision bf16`` mlprojects-bf16 (``--set precision=bf16``) and
keras-tf-bf16 (Keras' ``mixed_bfloat16`` policy). Keras needs ``pip install -e ".[bench]"``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BATCH, LR, N, N_TEST = 50, 1e-3, 60000, 10000
STEPS = int(os.environ.get("CNN_STEPS", "200"))
IMPLS = ["keras-tf", "torch-loop", "mlprojects", "mlprojects-nchw", "mlprojects-onnxruntime"]
FORWARD_FLOP = 2 * (28 * 28 * 32 * 25 + 14 * 14 * 64 * 25 * 32 + 3136 * 1024 + 1024 * 10)


def data():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (N + N_TEST, 28, 28), dtype=np.uint8).astype(np.float32) / 255.0
    y = rng.integers(0, 10, N + N_TEST).astype(np.int64)
    return x[:N], y[:N], x[N:]


def keras_child(bf16: bool = False) -> None:
    os.environ["KERAS_BACKEND"] = "tensorflow"
    harness.pin_tf()
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    if bf16:  # Keras' mixed precision: bf16 compute, float32 weights; the softmax in float32, as its guide says
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    x, y, x_test = data()
    x, x_test = x[..., None], x_test[..., None]  # NHWC, Keras' layout
    targets = keras.utils.to_categorical(y, 10)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 5, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 5, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Flatten(), layers.Dense(1024, activation="relu"), layers.Dropout(0.5),
        layers.Dense(10, activation="softmax", dtype="float32")])
    model.compile(optimizer=keras.optimizers.Adam(LR), loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:20 * BATCH], targets[:20 * BATCH], batch_size=BATCH, epochs=1, verbose=0)  # warm-up and tracing
    model.predict(x_test, batch_size=1000, verbose=0)
    n = STEPS * BATCH
    offset = [0]

    def train() -> None:
        start = offset[0] % (N - n)
        offset[0] += n
        model.fit(x[start:start + n], targets[start:start + n], batch_size=BATCH, epochs=1, verbose=0)

    harness.serve_throughput(train, n, lambda: model.predict(x_test, batch_size=1000, verbose=0), N_TEST)


def onnxruntime_child() -> None:
    """Inference only, as `mlprojects predict` and `serve` run an image network by default: the model exported
    by mlprojects.export.for_inference (ONNX, checked against PyTorch) in onnxruntime, batch 1000."""
    import tempfile
    from pathlib import Path

    torch = harness.pin_torch()

    from mlprojects import registry
    from mlprojects.config import resolve
    from mlprojects.export import for_inference
    from mlprojects.predict import open_session
    from mlprojects.rundir import Run

    torch.manual_seed(0)
    _, _, x_test = data()
    project = registry.get("mnist-cnn")
    cfg = resolve(project.config_class, {})
    preparation = project.prepare(cfg).preparation  # the embedded digits' description: its classes
    model = project.build_model(cfg, preparation).eval()
    folder = Path(tempfile.mkdtemp())
    path = for_inference(Run(folder, project, cfg, {}, model, preparation), folder / "model.onnx")
    session = open_session(path)  # predict's and serve's options (the threads: harness.pin_torch's)
    test = project.images_to_inputs(cfg, (x_test * 255).astype(np.uint8)).numpy()

    def infer() -> dict:
        import time

        started = time.perf_counter()
        for i in range(0, N_TEST, 1000):
            session.run(None, {"pixels": test[i:i + 1000]})
        return {"samples_per_s": N_TEST / (time.perf_counter() - started)}

    infer()
    harness.serve({"infer": infer})


def torch_child(impl: str) -> None:
    torch = harness.pin_torch()
    from torch import nn

    from mlprojects.engine import TensorData, Trainer
    from mlprojects.engine.optim import build_optimizer
    from mlprojects.nn.convnets import LeNet

    torch.manual_seed(0)
    x, y, x_test = data()
    images, labels, test = torch.from_numpy(x)[:, None], torch.from_numpy(y), torch.from_numpy(x_test)[:, None]
    model = LeNet()
    n = STEPS * BATCH
    if impl.startswith("mlprojects"):
        if impl.endswith("-compile"):
            model = torch.compile(model)
        optimizer = build_optimizer("adam", model.parameters(), LR)
        trainer = Trainer(model, nn.functional.cross_entropy, optimizer, device=torch.device("cpu"),
                          channels_last=not impl.endswith("-nchw"),
                          precision="bf16" if impl.endswith("-bf16") else "fp32")
        epochs = iter(range(10**6))

        def steps(count: int) -> None:
            epoch = next(epochs)
            start = epoch * n % (N - n)
            trainer.train_epoch(TensorData(images[start:start + count * BATCH], labels[start:start + count * BATCH]),
                                BATCH, seed=0, epoch=epoch)

        def predict() -> None:
            trainer.predict(test, 1000)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=LR)
        loss_fn = nn.CrossEntropyLoss()

        def steps(count: int) -> None:  # the plain loop of pytorch/examples, data as in-memory tensors
            model.train()
            order = torch.randperm(N)
            for i in range(count):
                index = order[i * BATCH:(i + 1) * BATCH]
                optimizer.zero_grad()
                loss = loss_fn(model(images[index]), labels[index])
                loss.backward()
                optimizer.step()

        def predict() -> None:
            model.eval()
            with torch.inference_mode():
                torch.cat([model(test[i:i + 1000]).argmax(1) for i in range(0, N_TEST, 1000)])

    steps(20)  # warm-up (and compilation)
    predict()
    harness.serve_throughput(lambda: steps(STEPS), n, predict, N_TEST)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl")
    parser.add_argument("--impls", nargs="+", default=IMPLS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--infer-rounds", type=int, help="rounds of inference  [default: half the rounds, at least 3]")
    parser.add_argument("--json", help="write the raw samples here")
    args = parser.parse_args()
    if args.impl:
        if args.impl == "mlprojects-onnxruntime":
            return onnxruntime_child()
        return keras_child(args.impl.endswith("bf16")) if args.impl.startswith("keras-tf") else torch_child(args.impl)
    impls = harness.without_missing_keras(args.impls + (["mlprojects-bf16", "keras-tf-bf16"]
                                                        if args.precision == "bf16" else []))
    plan = [("train", args.rounds), ("infer", args.infer_rounds or max(3, args.rounds // 2))]
    samples = harness.run(__file__, impls, plan)
    print(f"\nLeNet (3,274,634 parameters), Adam, batch {BATCH}: samples/s median (min-max); ratio = median of "
          f"per-round ratios (min-max); training is ~{3 * FORWARD_FLOP / 1e6:.0f} MFLOP per sample")
    harness.print_throughput(samples, flop_per_sample={"train": 3 * FORWARD_FLOP, "infer": FORWARD_FLOP})
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"batch": BATCH, "steps": STEPS, "samples": samples}, out, indent=1)


if __name__ == "__main__":
    main()
