"""The notebook MLP's training speed as a user meets it: `mlprojects run` against the notebook's own Keras code.

Each round runs two whole commands, one after the other (the order reversed every round), each a new process
with the same threads (harness.PIN_ENV):
- ours: ``mlprojects run mnist-mlp --set data=fashion-mnist --set epochs=3``, its ``train_samples_per_sec``
  from ``metrics.json``: the training samples per second over the epochs after the first, each epoch timed from
  its start to its last step (data loading and all a step does in, evaluation out);
- Keras: the notebook's code (784 -> 4 x 256 ReLU -> 10 softmax, SGD lr 0.087, batch 32, categorical
  cross-entropy, accuracy) on the same 60,000 images, ``model.fit`` with its default output, timed the same way
  by a callback at each epoch's start and end, without validation.

    python benchmarks/bench_user_run.py --rounds 5
    python benchmarks/bench_user_run.py --rounds 5 --placement   # also where the host put the two CPUs

Fashion-MNIST comes from Debian's ``dataset-fashion-mnist`` (offline) or its download; Keras needs
``pip install -e ".[bench]"``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

EPOCHS, BATCH, LR, DATA = 3, 32, 0.087, "fashion-mnist"


def keras_child() -> None:
    """The notebook's Keras code on the data our run reads; prints the samples per second after the first epoch."""
    os.environ["KERAS_BACKEND"] = "tensorflow"
    harness.pin_tf()
    import keras

    from mlprojects.data import images

    split = images.load(DATA)
    x = split.train_images.reshape(len(split.train_images), -1).astype("float32") / 255
    y = keras.utils.to_categorical(split.train_labels, 10)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,))] + [keras.layers.Dense(256, activation="relu") for _ in range(4)]
                             + [keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=LR), loss="categorical_crossentropy",
                  metrics=["accuracy"])

    class EpochTimes(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.started)

    times: list[float] = []
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, callbacks=[EpochTimes()])
    print("@@RESULT@@" + json.dumps({"samples_per_sec": len(x) * (EPOCHS - 1) / sum(times[1:])}), flush=True)


def ours() -> float:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "run"
        done = subprocess.run([sys.executable, "-m", "mlprojects", "run", "mnist-mlp", "--set", f"data={DATA}",
                               "--set", f"epochs={EPOCHS}", "--out", str(out)], capture_output=True, text=True,
                              env={**os.environ, **harness.PIN_ENV})  # its progress, as a user sees it, hidden
        if done.returncode:
            sys.exit(f"mlprojects run failed:\n{done.stderr}")
        return json.loads((out / "metrics.json").read_text())["train_samples_per_sec"]


def keras() -> float:
    done = subprocess.run([sys.executable, __file__, "--keras"], capture_output=True, text=True,
                          env={**os.environ, **harness.PIN_ENV})
    if done.returncode:
        sys.exit(f"the Keras side failed:\n{done.stderr}")
    line = next(line for line in done.stdout.splitlines() if line.startswith("@@RESULT@@"))
    return json.loads(line.removeprefix("@@RESULT@@"))["samples_per_sec"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--placement", action="store_true",
                        help="time a cache line's round trip between CPUs 0 and 1 before and after each command "
                             "(pingpong.c, built with cc) and group the rounds by where ours ran (bench_placement.py)")
    parser.add_argument("--keras", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.keras:
        return keras_child()
    measures = {"mlprojects": ours, "keras-tf": keras}
    found: dict[str, list[float]] = {name: [] for name in measures}
    places: dict[str, list[str]] = {name: [] for name in measures}
    with tempfile.TemporaryDirectory() as scratch:
        round_trips = harness.RoundTrips(scratch) if args.placement else None
        for round_ in range(args.rounds):
            for name in (list(measures) if round_ % 2 == 0 else list(measures)[::-1]):
                time.sleep(harness.PAUSE_S)
                note = ""
                if round_trips is None:
                    found[name].append(measures[name]())
                else:
                    value, place, trips = round_trips.around(measures[name])
                    found[name].append(value)
                    places[name].append(place)
                    note = f"  ({trips})"
                print(f"  [round {round_ + 1}] {name:11s} {found[name][-1]:,.0f} samples/s{note}", flush=True)
    ratios = [a / b for a, b in zip(found["mlprojects"], found["keras-tf"])]
    print(f"\nnotebook MLP on {DATA}, batch {BATCH}, samples/s over epochs 2-{EPOCHS} as each reports them, "
          f"{args.rounds} alternated rounds, {harness.THREADS} threads:")
    for name, values in found.items():
        print(f"  {name:11s} {harness.median_range(values)}")
    print(f"  ratio       x{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
    for place in dict.fromkeys(places["mlprojects"]):
        group = [ratio for ratio, ran in zip(ratios, places["mlprojects"]) if ran == place]
        label = "CPUs that moved" if place == "moved" else place
        print(f"  ratio where ours ran on {label} ({len(group)} rounds): x{statistics.median(group):.2f} "
              f"({min(group):.2f}-{max(group):.2f})")


if __name__ == "__main__":
    main()
