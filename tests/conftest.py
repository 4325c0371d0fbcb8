"""Shared fixtures: a home folder of the suite's own, an isolated dataset cache, the CLI in-process,
tiny fast settings."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

# settings that keep a real mnist-mlp run to a second or two on 2 cores
FAST = ["--set", "epochs=1", "--set", "widths=64,64", "--quiet"]

# --- the suite's own home folder ------------------------------------------------------------------
# Nothing a developer left in ~ (a Ray token, a Hugging Face cache or token, a downloaded model, a
# matplotlib or music21 configuration) may make a test pass: every test, and every process a test
# starts, sees an empty home folder that this file made. Where a library takes its folder from a
# variable of its own rather than from HOME, that variable points inside the same folder. The switch
# happens in pytest_configure, before any test module is imported, because some of these libraries
# read their folders once, at import. pip is never run by the tests; the README's install command
# runs before pytest and keeps the machine's pip configuration.

HOME_FOLDERS = {  # variable -> folder under the suite's home
    "HOME": "", "USERPROFILE": "",
    "XDG_CACHE_HOME": ".cache", "XDG_CONFIG_HOME": ".config", "XDG_DATA_HOME": ".local/share",
    "MPLCONFIGDIR": ".config/matplotlib",
    "HF_HOME": ".cache/huggingface", "TORCH_HOME": ".cache/torch",
    "MLPROJECTS_HOME": ".cache/mlprojects",
    "RAY_TMPDIR": "ray",  # Ray's sessions and sockets (default /tmp/ray, shared with any cluster running here)
    # Gradio's cache of the pages' files and gradio_client's downloads (default /tmp/gradio, shared with any Gradio
    # app on the machine: a whole suite had left 14 files there). gradio_client still leaves an empty folder in the
    # temporary folder for every file it downloads (a folder it makes, 40 hex digits, and never removes)
    "GRADIO_TEMP_DIR": "gradio",
}
# variables that point a library past HOME, or carry a credential or a cluster into the tests
HOME_OVERRIDES = ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE", "HF_DATASETS_CACHE", "HF_TOKEN",
                  "HF_TOKEN_PATH", "HUGGING_FACE_HUB_TOKEN", "SENTENCE_TRANSFORMERS_HOME", "HF_HUB_OFFLINE",
                  "RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH",
                  "MLPROJECTS_DEBUG")
_saved_environment: dict[str, str | None] = {}


def pytest_configure(config) -> None:
    if _saved_environment:  # pytest-xdist workers and nested runs configure once each
        return
    # short (Ray's socket paths must stay under 108 characters) and outside any home folder
    home = Path(tempfile.mkdtemp(prefix="mlp-home-", dir="/tmp" if os.path.isdir("/tmp") else None))
    for name in (*HOME_FOLDERS, *HOME_OVERRIDES):
        _saved_environment[name] = os.environ.pop(name, None)
    for name, folder in HOME_FOLDERS.items():
        (home / folder).mkdir(parents=True, exist_ok=True)
        os.environ[name] = str(home / folder)
    _saved_environment["__home__"] = str(home)
    if os.environ.get("PYTEST_XDIST_WORKER"):  # under pytest -n N: one thread per worker, so N never oversubscribe
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            _saved_environment.setdefault(name, os.environ.get(name))
            os.environ[name] = "1"


def pytest_xdist_auto_num_workers(config) -> int:
    """`-n auto` (pyproject.toml): a worker per core up to 4; each holds its own runs and models in memory."""
    return max(1, min(4, os.cpu_count() or 1))


def pytest_collection_modifyitems(config, items) -> None:
    """The tests marked slow first in every worker's share. Under ``--dist worksteal`` each of N workers is first
    sent a contiguous part of the list (N parts, as pytest-xdist's ``WorkStealingScheduling`` cuts it), runs it from
    its front, and an idle worker steals from the end of another's part. So each part starts with its round-robin
    share of the slow tests and ends with short ones: the long tests run early, and the workers finish together on
    short ones, instead of one still running a long test while the other has nothing left. Without workers (or with
    too few tests for the parts), the slow tests simply come first."""
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    slow = [item for item in items if item.get_closest_marker("slow")]
    fast = [item for item in items if not item.get_closest_marker("slow")]
    sizes, left = [], len(items)
    for part in range(workers):
        sizes.append(left // (workers - part))
        left -= sizes[-1]
    shares = [slow[part::workers] for part in range(workers)]
    if any(len(share) > size for share, size in zip(shares, sizes)):
        items[:] = slow + fast
        return
    ordered, rest = [], iter(fast)
    for share, size in zip(shares, sizes):
        ordered += share + [next(rest) for _ in range(size - len(share))]
    items[:] = ordered


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config) -> None:
    while _forking:
        _forking.pop().close()
    home = _saved_environment.pop("__home__", None)
    for name, value in _saved_environment.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _saved_environment.clear()
    if home:
        shutil.rmtree(home, ignore_errors=True)
    # the last thing the process does: the interpreter's exit then skips collecting every object of PyTorch,
    # transformers and the rest for cycles (test_api.py with -n 0: 2.6 s from its last test to the process's end, 0.9 s
    # with this; at the end of a whole-suite run the controller had waited 9 s for the workers to exit)
    gc.freeze()


@pytest.fixture(scope="session", autouse=True)
def test_home() -> Path:
    """The suite's own home folder, for the whole session (made in pytest_configure, before any import)."""
    home = Path(os.environ["HOME"])
    assert str(home) == _saved_environment["__home__"] != _saved_environment["HOME"], \
        "the tests must run in the home folder conftest.py made"
    return home


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets an empty dataset cache as well, so no test depends on another's downloads."""
    home = tmp_path_factory.mktemp("mlprojects_home")
    monkeypatch.setenv("MLPROJECTS_HOME", str(home))
    monkeypatch.delenv("MLPROJECTS_DEBUG", raising=False)
    return home


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """Run the real CLI entry point in this process; return exit code, stdout, stderr."""

    from mlprojects.cli import main

    def invoke(*args: str) -> Result:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


# --- finished runs shared by the tests that only read them (a test that changes one copies it first) ----------

@pytest.fixture(scope="session")
def wine_run(tmp_path_factory) -> Path:
    """A finished `wine` run: 30 epochs of the default MLP on the embedded table (about a second)."""
    from mlprojects.runner import run

    return run("wine", {"epochs": 30}, out=tmp_path_factory.mktemp("shared") / "wine", progress=False)


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory) -> Path:
    """A finished `mnist-mlp` run: 2 epochs of a 64-64 network on the embedded digits (a few seconds)."""
    from mlprojects.runner import run

    return run("mnist-mlp", {"epochs": 2, "widths": "64,64"}, out=tmp_path_factory.mktemp("shared") / "digits",
               progress=False)


#: the run the data-parallel tests compare: on 2 processes (`--nproc 2`), on 2 nodes (`--nnodes 2`), against 1
#: process. 8,000 training digits at a global batch of 256 end each epoch on a part batch of 64 (32 a process), and
#: 2 epochs cross the sampler's reshuffle: a batch of 64 took 4 times the steps, each an all-reduce over gloo
DATA_PARALLEL = ("mnist-mlp", "--set", "epochs=2", "--set", "widths=64,64", "--set", "batch_size=256",
                 "--set", "optimizer=momentum", "--set", "lr=0.05", "--device", "cpu")


@pytest.fixture(scope="session")
def one_process_run(tmp_path_factory) -> Path:
    """DATA_PARALLEL in one process, as the command runs it: what the data-parallel runs must end at."""
    out = tmp_path_factory.mktemp("shared") / "one-process"
    done = run_subprocess("run", *DATA_PARALLEL, "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    return out


def assert_ends_as_one_process(one: Path, run_dir: Path) -> None:
    """RUN_DIR, DATA_PARALLEL on 2 processes (one node or two), ended where ONE (``one_process_run``) did: the same
    losses, accuracy (one test digit of 2,000 may flip) and weights, up to the order gloo sums the gradients in."""
    import json

    import torch
    from safetensors.torch import load_file

    a, b = (json.loads((folder / "metrics.json").read_text()) for folder in (one, run_dir))
    assert b["world_size"] == 2 and a["world_size"] == 1
    for key in ("test_loss", "train_loss"):
        assert b[key] == pytest.approx(a[key], rel=1e-4), key
    assert abs(b["test_accuracy"] - a["test_accuracy"]) <= 1 / 2000 + 1e-12
    w1, w2 = load_file(str(one / "model.safetensors")), load_file(str(run_dir / "model.safetensors"))
    for key in w1:
        torch.testing.assert_close(w1[key], w2[key], rtol=1e-3, atol=1e-5)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


_forking = []  # this worker's forking server (tests/forked.py), started by the first command that needs it


def run_subprocess(*args: str, env: dict | None = None, cwd=None, timeout: int = 600,
                   fresh: bool = False) -> subprocess.CompletedProcess:
    """`mlprojects ARGS` in a process of its own: forked from a warm one (tests/forked.py; ``.maxrss`` is its peak
    memory), or with FRESH a new interpreter, for what only a new interpreter shows."""
    environment = {**os.environ, **(env or {})}
    if fresh:
        return subprocess.run([sys.executable, "-m", "mlprojects", *args], capture_output=True, text=True,
                              env=environment, cwd=cwd, timeout=timeout)
    return _forking_server().run(list(args), environment, cwd or os.getcwd(), timeout)


def _forking_server():
    if not _forking:
        from forked import Server

        _forking.append(Server())
    return _forking[0]


def forked_bridge(timeout: float):
    """The Bridge (``.path``: its socket) through which processes this test starts run `mlprojects` forked from
    this worker's warm server, as :func:`run_subprocess` does (``tests/forked_hook`` is their side)."""
    server = _forking_server()
    if not hasattr(server, "bridge"):
        from forked import Bridge

        server.bridge = Bridge(server, timeout)
    return server.bridge


class Forked:
    """`mlprojects ARGS` forked from the worker's warm server, for a command the test stops itself (a server), with
    what the test uses of ``subprocess.Popen``: ``pid``, ``poll()``, ``wait(timeout)``, ``send_signal``,
    ``terminate()``, ``kill()`` and ``stdout``/``stderr`` read as the command writes them (``readline()`` waits for a
    whole line). It runs in a session of its own; once it ended, what is left of its process group is killed."""

    def __init__(self, args, env: dict | None = None, cwd=None) -> None:
        self.server = _forking_server()
        self.started, self.pid = self.server.start([str(arg) for arg in args], {**os.environ, **(env or {})},
                                                   str(cwd or os.getcwd()))
        self.returncode = None
        self.stdout, self.stderr = _Output(self.started[1], self), _Output(self.started[2], self)

    def poll(self) -> int | None:
        if self.returncode is None and self.started[0].done():
            self.wait()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        import signal

        if self.returncode is None:
            try:
                self.started[0].result(timeout=timeout)
            except TimeoutError:
                raise subprocess.TimeoutExpired(["mlprojects"], timeout) from None
            for output in (self.stdout, self.stderr):
                output.close()  # before the server's result removes the files
            self.returncode = self.server.result(self.started, 1).returncode
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        return self.returncode

    def send_signal(self, number: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, number)

    def terminate(self) -> None:
        import signal

        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        import signal

        self.send_signal(signal.SIGKILL)


class _Output:
    """A stream of a :class:`Forked` command, read from the file it writes; once the command ended, what was left
    of it is kept here and the file closed."""

    def __init__(self, path: str, process: Forked) -> None:
        self.path, self.process, self.handle, self.rest = path, process, None, None

    def open(self) -> bool:
        if self.handle is None and os.path.exists(self.path):
            self.handle = open(self.path)
        return self.handle is not None

    def close(self) -> None:
        if self.rest is None:
            self.rest = self.handle.read() if self.open() else ""
            if self.handle is not None:
                self.handle.close()

    def readline(self) -> str:
        import time

        line = ""
        while self.rest is None:
            if self.open():
                line += self.handle.readline()
                if line.endswith("\n"):
                    return line
            if self.process.started[0].done():
                self.process.wait()
                break
            time.sleep(0.02)
        head, newline, self.rest = self.rest.partition("\n")
        return line + head + newline

    def read(self) -> str:
        self.process.wait()
        text, self.rest = self.rest, ""
        return text


def kill_when(args: list[str], ready, what: str, timeout: float = 300) -> None:
    """`mlprojects ARGS` in a process of its own (:class:`Forked`), killed with its whole process group (SIGKILL) as
    soon as READY() holds, checked every 50 ms; the test fails when WHAT never happens within TIMEOUT seconds."""
    import signal
    import time

    process = Forked(args)
    deadline, happened = time.time() + timeout, False
    try:
        while process.poll() is None and time.time() < deadline:
            if ready():
                happened = True
                break
            time.sleep(0.05)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:  # its group had ended
            pass
        process.wait(60)
    if not happened:
        pytest.fail(f"{what} never happened (exit code {process.returncode})\n{process.stdout.read()}"
                    f"{process.stderr.read()}")


# --- CIFAR-10 in its published layout -----------------------------------------------------------

def write_cifar_archive(path, per_batch: int = 20, seed: int = 0, python2_names: bool = True,
                        replace: dict | None = None):
    """A ``cifar-10-python.tar.gz`` laid out exactly as the published one: ``cifar-10-batches-py/``
    with data_batch_1..5, test_batch, batches.meta and readme.html, each batch a pickle (protocol 2,
    bytes keys) of {batch_label, labels, data (N x 3072 uint8, R then G then B planes), filenames}.
    Images are a class colour plus noise, so a network can learn them. ``python2_names`` writes the
    pickles as the real files were written (Python 2's str opcodes, NumPy 1's ``numpy.core.multiarray``);
    without it, as Python 3 writes them. ``replace`` maps a member name to raw bytes written instead."""
    import io
    import pickle
    import struct
    import tarfile

    import numpy as np

    class Python2Pickler(pickle._Pickler):
        """Writes bytes as Python 2 wrote its str (BINSTRING), not as Python 3's _codecs.encode call."""

        dispatch = pickle._Pickler.dispatch.copy()

        def save_bytes(self, obj):
            size = len(obj)
            self.write((pickle.SHORT_BINSTRING + bytes([size]) if size < 256
                        else pickle.BINSTRING + struct.pack("<i", size)) + obj)
            self.memoize(obj)

        dispatch[bytes] = save_bytes

    def dumps(value) -> bytes:
        if not python2_names:
            return pickle.dumps(value, protocol=2)
        buffer = io.BytesIO()
        Python2Pickler(buffer, protocol=2).dump(value)
        return buffer.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")

    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 256, (10, 3))
    members = {}
    for index, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        labels = rng.integers(0, 10, per_batch)
        planes = colours[labels][:, :, None] + rng.normal(0, 25, (per_batch, 3, 1024))
        data = np.clip(planes, 0, 255).astype(np.uint8).reshape(per_batch, 3072)
        batch = {b"batch_label": f"batch {index + 1} of 5".encode(), b"labels": labels.tolist(), b"data": data,
                 b"filenames": [f"img_{index}_{i}.png".encode() for i in range(per_batch)]}
        members[name] = dumps(batch)
    members["batches.meta"] = dumps({b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer",
                                                             b"dog", b"frog", b"horse", b"ship", b"truck"],
                                            b"num_cases_per_batch": per_batch, b"num_vis": 3072})
    members["readme.html"] = b"<html>test copy</html>"
    members.update(replace or {})
    with tarfile.open(path, "w:gz") as archive:
        for name, raw in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))
    return path


@pytest.fixture
def cifar10_files(tmp_path, monkeypatch):
    """A CIFAR-format archive in the dataset cache, and the catalog's checksum set to its own
    (the real archive's sha256 stays in the catalog for users; these machines cannot download it)."""
    import dataclasses

    from mlprojects.data import catalog, store

    spec = catalog.CATALOG["cifar10"]
    folder = store.home() / "datasets" / "cifar10"
    folder.mkdir(parents=True)
    path = write_cifar_archive(folder / "cifar-10-python.tar.gz", per_batch=60)
    file = dataclasses.replace(spec.files[0], sha256=store.sha256_of(path), size=path.stat().st_size)
    monkeypatch.setitem(catalog.CATALOG, "cifar10", dataclasses.replace(spec, files=(file,)))
    return path


# --- a tiny BERT and labelled texts ---------------------------------------------------------------

TINY_WORDS = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "##s", ",", ".", "good", "bad", "great",
              "awful", "film", "is", "was", "very"]


def make_tiny_bert(folder):
    """A 2-layer BERT (hidden 16) with a small vocabulary, saved as save_pretrained writes it."""
    import torch
    import transformers

    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + TINY_WORDS) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab=str(vocab))  # transformers 5 ignores vocab_file=
    config = transformers.BertConfig(vocab_size=len(TINY_WORDS) + 5, hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def make_tiny_head(base, folder, auto_class: str, seed: int = 0, **config):
    """The tiny BERT with a fresh task head (seeded), saved with its tokenizer."""
    import torch
    import transformers

    torch.manual_seed(seed)
    model = getattr(transformers, auto_class).from_pretrained(base, **config)
    model.save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(base).save_pretrained(folder)
    return folder


def make_tiny_t5(base, folder, task_specific_params=None):
    """A 1-layer T5 (d_model 16) on the tiny BERT's word-piece vocabulary: [SEP] ends a sequence."""
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(base)
    config = transformers.T5Config(vocab_size=len(tokenizer), d_model=16, d_kv=8, d_ff=32, num_layers=1,
                                   num_heads=2, pad_token_id=0, eos_token_id=3, decoder_start_token_id=0,
                                   task_specific_params=task_specific_params)
    torch.manual_seed(0)
    model = transformers.T5ForConditionalGeneration(config)
    model.generation_config.max_new_tokens = 6
    model.generation_config.suppress_tokens = [0, 1, 2, 4]  # words, not [PAD] [UNK] [CLS] [MASK], from random weights
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def make_tiny_gpt2(folder):
    """A 2-layer GPT-2 with a byte-level BPE tokenizer trained here on a few sentences."""
    import tokenizers
    import torch
    import transformers

    bpe = tokenizers.ByteLevelBPETokenizer()
    bpe.train_from_iterator(["the cat sat on the mat.", "a dog ran to the cat.", "the film was very good."] * 20,
                            vocab_size=300, special_tokens=["<|endoftext|>"])
    tokenizer = transformers.GPT2TokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>",
                                               bos_token="<|endoftext|>", unk_token="<|endoftext|>")
    config = transformers.GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=16, n_layer=2, n_head=2,
                                     bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_reviews(path, count: int, seed: int = 0):
    """Short 'reviews' whose label is the sentiment word in them: learnable by a tiny model."""
    import random

    rng = random.Random(seed)
    rows = ["text,label"]
    for _ in range(count):
        positive = rng.random() < 0.5
        word = rng.choice(["good", "great"] if positive else ["bad", "awful"])
        rows.append(f'"the film was very {word}, ' + rng.choice(["the cat sat", "a dog ran", "on the mat"])
                    + f'",{"pos" if positive else "neg"}')
    path.write_text("\n".join(rows) + "\n")
    return path


# --- what the projects' entries say they need (Entry.needs), each a fixture of that name --------------

@pytest.fixture
def cifar10(cifar10_files) -> dict:
    return {}


@pytest.fixture
def pretrained_model(tmp_path) -> dict:
    """A tiny BERT written with save_pretrained: the model setting of the fine-tuning projects."""
    pytest.importorskip("transformers")
    (tmp_path / "tiny-bert").mkdir(exist_ok=True)
    return {"model": str(make_tiny_bert(tmp_path / "tiny-bert"))}


@pytest.fixture
def labelled_texts(tmp_path) -> dict:
    """Labelled CSVs (text,label) a tiny model can learn: the train and eval settings of text-classify."""
    train, evaluation = write_reviews(tmp_path / "train.csv", 96), write_reviews(tmp_path / "eval.csv", 40, seed=1)
    return {"train": str(train), "eval": str(evaluation)}


@pytest.fixture
def tagged_sentences(tmp_path) -> dict:
    """Tagged CoNLL files: the train and eval settings of token-classify."""
    train, evaluation = write_tagged(tmp_path / "train.conll", 80), write_tagged(tmp_path / "eval.conll", 30, seed=1)
    return {"train": str(train), "eval": str(evaluation)}


@pytest.fixture
def text_files(pretrained_model, labelled_texts) -> dict:
    """Everything text-classify needs, with its smoke settings."""
    from mlprojects import registry

    return {**registry.get("text-classify").smoke_settings, **pretrained_model, **labelled_texts}


def write_tagged(path, count: int, seed: int = 0):
    """CoNLL sentences where animals are B-ANI and objects B-OBJ, every other word O."""
    import random

    rng = random.Random(seed)
    kinds = {"cat": "B-ANI", "dog": "B-ANI", "cats": "B-ANI", "mat": "B-OBJ", "film": "B-OBJ"}
    blocks = []
    for _ in range(count):
        words = [rng.choice(["the", "a"]), rng.choice(["cat", "dog", "cats", "film"]),
                 rng.choice(["sat", "ran", "was"]), "on", "the", rng.choice(["mat", "film"]), "."]
        blocks.append("\n".join(f"{w} {kinds.get(w, 'O')}" for w in words))
    path.write_text("-DOCSTART- O\n\n" + "\n\n".join(blocks) + "\n")
    return path


@pytest.fixture
def token_files(pretrained_model, tagged_sentences) -> dict:
    """Everything token-classify needs, with its smoke settings."""
    from mlprojects import registry

    return {**registry.get("token-classify").smoke_settings, **pretrained_model, **tagged_sentences}


# --- what a picture a run drew holds ----------------------------------------------------------------

DPI = 110  # mlprojects.plots.save_figure's


def assert_picture(path, inches: tuple[float, float] | None = None, panels: int | None = None):
    """PATH is a PNG that shows something: its size is INCHES at the plots' dpi (when given), at least 2% of its
    pixels differ from the background (its most common colour) and, with PANELS, that many separate drawn areas
    stand side by side (columns of non-background pixels split by blank gaps). Returns its RGB pixels."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as picture:
        assert picture.format == "PNG", path
        pixels = np.asarray(picture.convert("RGB"))
    if inches is not None:
        assert pixels.shape[1::-1] == (round(inches[0] * DPI), round(inches[1] * DPI)), (path, pixels.shape)
    # each colour as one number, 0xRRGGBB, in the same order as its (R, G, B): np.unique(axis=0) on the rows of
    # uint8 gave the same colour, and took 0.85 s a picture (35 s of CPU in four test files) where this takes 0.004 s
    packed = (pixels[..., 0].astype(np.uint32) << 16) | (pixels[..., 1].astype(np.uint32) << 8) | pixels[..., 2]
    colours, counts = np.unique(packed, return_counts=True)
    background = np.array([colours[counts.argmax()] >> shift & 0xFF for shift in (16, 8, 0)], dtype=np.uint8)
    drawn = (pixels != background).any(axis=2)
    assert drawn.mean() > 0.02, f"{path}: blank ({drawn.mean():.2%} drawn)"
    if panels is not None:
        used = drawn[int(0.1 * len(drawn)):int(0.9 * len(drawn))].any(axis=0)  # between titles and labels
        starts = np.flatnonzero(used[1:] & ~used[:-1]) + 1
        runs = len(starts) + int(used[0])
        assert runs >= panels, f"{path}: {runs} drawn areas side by side, expected {panels}"
    return pixels


def bomb_png(path: Path, side: int = 20_000) -> Path:
    """A PNG file whose header says SIDE x SIDE pixels (its one row of data is a 1x1 image's): Pillow refuses to open
    one of more than 2 x 89.5 million pixels, before decoding anything."""
    import io
    import struct
    import zlib

    from PIL import Image

    png = io.BytesIO()
    Image.new("L", (1, 1)).save(png, format="PNG")
    data = bytearray(png.getvalue())
    data[16:24] = struct.pack(">II", side, side)  # IHDR's width and height, then its CRC
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path
