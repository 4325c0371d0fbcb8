"""MLP training speed: mlprojects' engine vs a hand-written PyTorch loop vs Keras 3 on TensorFlow.

The Keras notebook's configuration: 784 -> 4 x 256 ReLU -> 10, SGD lr 0.087, batch 32, one epoch
of 60,000 synthetic samples of MNIST's shape (speed does not depend on the values), accuracy
tracked as Keras does. Inference: the 10,000-sample test set at batch 1000.

    python benchmarks/bench_mlp.py                 # all implementations, 5 rounds
    python benchmarks/bench_mlp.py --rounds 3 --impls mlprojects torch-loop
    python benchmarks/bench_mlp.py --placement        # also where the host put CPUs 0 and 1 (bench_placement.py)
    python benchmarks/bench_mlp.py --precision bf16   # also our engine in bf16 autocast, and Keras in its
                                                    # mixed_bfloat16 policy (the same precision)

Keras needs ``pip install -e ".[bench]"``; without it that row is left out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

N_TRAIN, N_TEST, N_IN, HIDDEN, N_OUT, LR = 60000, 10000, 784, 256, 10, 0.087
IMPLS = ["mlprojects", "torch-loop", "keras-tf"]


def data():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (N_TRAIN + N_TEST, N_IN), dtype=np.uint8).astype(np.float32) / 255.0
    y = rng.integers(0, 10, N_TRAIN + N_TEST).astype(np.int64)
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


def keras_child(batch: int, bf16: bool = False) -> None:
    os.environ["KERAS_BACKEND"] = "tensorflow"
    harness.pin_tf()
    import keras

    keras.utils.set_random_seed(0)
    if bf16:  # Keras' mixed precision: bf16 compute, float32 weights; the softmax in float32, as its guide says
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    xtr, ytr, xte, _ = data()
    targets = keras.utils.to_categorical(ytr, 10)
    model = keras.Sequential([keras.Input((N_IN,))] + [keras.layers.Dense(HIDDEN, activation="relu") for _ in range(4)]
                             + [keras.layers.Dense(N_OUT, activation="softmax", dtype="float32")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=LR), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(xtr[: 100 * batch], targets[: 100 * batch], batch_size=batch, epochs=1, verbose=0)  # warm-up
    model.predict(xte, batch_size=1000, verbose=0)
    harness.serve_throughput(lambda: model.fit(xtr, targets, batch_size=batch, epochs=1, verbose=0), N_TRAIN,
                             lambda: model.predict(xte, batch_size=1000, verbose=0), N_TEST)


def torch_child(impl: str, batch: int, precision: str) -> None:
    torch = harness.pin_torch()
    from torch import nn

    from mlprojects.engine import TensorData, Trainer
    from mlprojects.nn import MLP

    torch.manual_seed(0)
    xtr, ytr, xte, _ = (torch.from_numpy(a) for a in data())
    model = MLP(N_IN, (HIDDEN,) * 4, N_OUT)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    if impl.startswith("mlprojects"):
        trainer = Trainer(model, nn.functional.cross_entropy, optimizer, device=torch.device("cpu"),
                          precision="bf16" if impl.endswith("bf16") else "fp32")
        train_data = TensorData(xtr, ytr)
        epoch_counter = iter(range(10**6))

        def epoch(steps=None):
            subset = train_data if steps is None else TensorData(xtr[: steps * batch], ytr[: steps * batch])
            trainer.train_epoch(subset, batch, seed=0, epoch=next(epoch_counter))

        def predict():
            trainer.predict(xte, 1000)
    else:
        loss_fn = nn.CrossEntropyLoss()

        def epoch(steps=None):  # the plain loop of pytorch/examples, data as in-memory tensors
            model.train()
            order = torch.randperm(N_TRAIN)
            for i in range(steps or -(-N_TRAIN // batch)):
                index = order[i * batch:(i + 1) * batch]
                optimizer.zero_grad()
                loss = loss_fn(model(xtr[index]), ytr[index])
                loss.backward()
                optimizer.step()

        def predict():
            model.eval()
            with torch.inference_mode():
                torch.cat([model(xte[i:i + 1000]).argmax(1) for i in range(0, N_TEST, 1000)])

    epoch(100)  # warm-up
    predict()
    harness.serve_throughput(epoch, N_TRAIN, predict, N_TEST)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl")
    parser.add_argument("--impls", nargs="+", default=IMPLS)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--json", help="write the raw samples here")
    parser.add_argument("--placement", action="store_true",
                        help="time a cache line's round trip between CPUs 0 and 1 around each measurement "
                             "(pingpong.c, built with cc) and give the table again over the rounds on one cache")
    args = parser.parse_args()
    if args.impl:
        if args.impl.startswith("keras-tf"):
            return keras_child(args.batch, args.impl.endswith("bf16"))
        return torch_child(args.impl, args.batch, args.precision)
    impls = harness.without_missing_keras(args.impls + (["mlprojects-bf16", "keras-tf-bf16"]
                                                        if args.precision == "bf16" else []))
    with tempfile.TemporaryDirectory() as scratch:
        samples = harness.run(__file__, impls, [("train", args.rounds), ("infer", max(2, args.rounds // 2))],
                              ["--batch", str(args.batch), "--precision", args.precision],
                              harness.RoundTrips(scratch) if args.placement else None)
    print(f"\nMLP 784-4x256-10, batch {args.batch}, one epoch of {N_TRAIN}: samples/s median (min-max); "
          "ratio = median of per-round ratios (min-max)")
    harness.print_throughput(samples)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"batch": args.batch, "samples": samples}, out, indent=1)


if __name__ == "__main__":
    main()
