"""bach-charrnn: a character-level LSTM that writes tunes in ABC notation (the book's chapter 7).

The book trained on Bach's Goldberg Variations in ABC, a corpus that is no longer published. Here
the corpus comes with the ``music21`` package: ``corpus=bach`` (default) is the melody of each of
its Bach chorales, converted to ABC by :mod:`mlprojects.data.abc`; ``corpus=nottingham`` its ABC
folk tunes. Tunes are split into training and validation by tune (a hash of each tune's text).
The model and recipe are the book's: embedding 64, one LSTM layer of 64 units, batch 50, sequences
of 50 characters, Adam 0.002 decayed by 0.97 every epoch, gradients clipped to norm 5.
Reported: validation bits per character, and how many sampled tunes music21 reads as valid ABC.

The converter writes key, meter, unit length 1/8, note lengths, ties, rests and bar lines; an accidental
is written on every note that leaves the key, so readers that carry accidentals through the bar and
music21's, which does not, hear the same notes. The conversion takes about a minute once and is cached
under ``$MLPROJECTS_HOME/music``. ``corpus=nottingham`` holds only 2 tunes of the Nottingham Music
Database itself, with 4,433 British and Irish tunes of the same tradition (O'Neill's, Ryan's, Aird's,
miscellaneous), headers other than X, T, M, L, Q and K removed.

``mlprojects generate bach-charrnn --run RUN_DIR [--prime "X:1"] [--length 1000] [--temperature 0.8]``
samples text from a run; each complete tune in it is parsed with music21 and counts as valid when it has
``X:`` and ``K:`` lines, at least 4 notes, and renders to MIDI; a ``.mid`` file is written beside the ABC
for each valid tune, and a piano roll of the first. music21's ABC reader is lenient (a bar of the wrong
length, or a stray number, still parses), so the report adds a stricter figure: the share of bars
(neither the first nor the last) whose notes fill the meter exactly.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from mlprojects import plots
from mlprojects.config import OPTIMIZERS, SCHEDULES, TrainConfig, setting
from mlprojects.data import abc
from mlprojects.data.preparation import VocabularyPrep
from mlprojects.engine import TensorData, Trainer
from mlprojects.errors import UserError
from mlprojects.inputs import NoInputs
from mlprojects.project import Prepared, Project

VOCAB_FILE = "vocabulary.json"
TUNE_SEPARATOR = "\n"  # tunes are separated by a blank line: each ends in "\n", one more follows


@dataclass
class CharRNNConfig(TrainConfig):
    corpus: Literal[abc.CORPORA] = setting("bach", "bach (the chorales' melodies, converted to ABC) or nottingham "
                                                   "(ABC folk tunes)")
    max_tunes: int = setting(0, "use the first N tunes of the corpus only (0: all)", ge=0)
    embedding: int = setting(64, "embedding width", gt=0)
    hidden: int = setting(64, "LSTM units per layer", gt=0)
    layers: int = setting(1, "LSTM layers", gt=0)
    seq_length: int = setting(50, "characters per training sequence", gt=0)
    epochs: int = setting(40, "passes over the training text")
    batch_size: int = setting(50, "sequences per step")
    optimizer: Literal[OPTIMIZERS] = setting("adam", "optimizer: " + ", ".join(OPTIMIZERS))
    lr: float = setting(0.002, "learning rate")
    lr_schedule: Literal[SCHEDULES] = setting("exponential", "per-epoch schedule: " + ", ".join(SCHEDULES))
    lr_gamma: float = setting(0.97, "decay per epoch")
    grad_clip: float = setting(5.0, "clip the gradients' global norm to this before each step (0: off)")
    sample_length: int = setting(3000, "characters sampled after training, for the report", gt=0)
    temperature: float = setting(0.8, "sampling temperature for the report's sample", gt=0)


class CharRNN(nn.Module):
    """Embedding -> LSTM -> a linear layer to the next character's logits, at every position."""

    def __init__(self, vocabulary: int, embedding: int = 64, hidden: int = 64, layers: int = 1):
        super().__init__()
        self.embed = nn.Embedding(vocabulary, embedding)
        self.lstm = nn.LSTM(embedding, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, vocabulary)

    def forward(self, ids: torch.Tensor, state=None, return_state: bool = False):
        output, state = self.lstm(self.embed(ids), state)
        logits = self.head(output)
        return (logits, state) if return_state else logits


def sequence_loss(outputs: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy per character. 'sum' sums each sequence's mean, so that sum / sequences equals
    'mean' and the engine's multi-process scaling (which divides by the batch) stays exact."""
    per_sequence = F.cross_entropy(outputs.transpose(1, 2), targets, reduction="none").mean(1)
    return per_sequence.sum() if reduction == "sum" else per_sequence.mean()


def sequence_accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Next-character accuracy, as a sum over sequences of each sequence's mean."""
    return (outputs.argmax(-1) == targets).float().mean(1).sum()


def encode(text: str, vocabulary: list[str]) -> torch.Tensor:
    index = {c: i for i, c in enumerate(vocabulary)}
    unknown = sorted(set(text) - set(index))
    if unknown:
        raise UserError(f"characters outside the model's vocabulary: {''.join(unknown)!r}")
    return torch.tensor([index[c] for c in text], dtype=torch.long)


def sequences(ids: torch.Tensor, length: int) -> TensorData:
    """Non-overlapping chunks of ``length`` characters, each with the text shifted by one as targets."""
    count = (len(ids) - 1) // length
    if count == 0:
        raise UserError(f"the text ({len(ids)} characters) is shorter than seq_length={length}")
    inputs = ids[:count * length].view(count, length)
    targets = ids[1:count * length + 1].view(count, length)
    return TensorData(inputs, targets)


@torch.inference_mode()
def sample(model: CharRNN, vocabulary: list[str], prime: str, length: int, temperature: float,
           seed: int) -> str:
    """``prime`` and ``length`` characters drawn one at a time from the model's softmax / temperature."""
    if temperature <= 0:
        raise UserError(f"temperature={temperature}: must be greater than 0")
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    ids = encode(prime, vocabulary)
    logits, state = model(ids[None], return_state=True)
    out = []
    for _ in range(length):
        probabilities = torch.softmax(logits[0, -1].float() / temperature, dim=-1)
        next_id = int(torch.multinomial(probabilities, 1, generator=generator))
        out.append(vocabulary[next_id])
        logits, state = model(torch.tensor([[next_id]]), state, return_state=True)
    return prime + "".join(out)


def judge(text: str) -> tuple[list[str], list]:
    """The complete tunes of a sampled text (the last one is cut off by the length limit unless it
    ends in a bar-line end), each parsed (score and MIDI) or None when it is not valid ABC."""
    tunes = abc.split_tunes(text)
    if tunes and not tunes[-1].rstrip().endswith(("|]", "||", ":|")) and len(tunes) > 1:
        tunes = tunes[:-1]  # cut off mid-tune by the length limit: not judged
    return tunes, [abc.parse_tune(tune) for tune in tunes]


class BachCharRNN(Project):
    config_class = CharRNNConfig
    inputs = NoInputs("samples with `mlprojects generate`")
    smoke_settings = {"corpus": "nottingham", "max_tunes": 60, "epochs": 2, "hidden": 32, "sample_length": 200}

    def tunes(self, cfg: CharRNNConfig) -> tuple[list[str], list[str]]:
        tunes = abc.corpus_tunes(cfg.corpus)
        if cfg.max_tunes:
            tunes = tunes[:cfg.max_tunes]
        train, val = abc.split_by_tune(tunes)
        if not val:  # a tiny corpus: hold out its last tune
            train, val = train[:-1], train[-1:]
        return train, val

    def prepare(self, cfg: CharRNNConfig) -> Prepared:
        train, val = self.tunes(cfg)
        vocabulary = sorted(set("".join(train + val) + TUNE_SEPARATOR))
        as_text = (TUNE_SEPARATOR.join(train), TUNE_SEPARATOR.join(val))
        train_data = sequences(encode(as_text[0], vocabulary), cfg.seq_length)
        val_data = sequences(encode(as_text[1], vocabulary), min(cfg.seq_length, len(as_text[1]) - 1))
        return Prepared(train_data, val_data, {"vocabulary": vocabulary, "tunes": (len(train), len(val)),
                                               "characters": (len(as_text[0]), len(as_text[1]))},
                        VocabularyPrep(vocabulary))

    def build_model(self, cfg: CharRNNConfig, preparation: VocabularyPrep | None) -> CharRNN:
        if preparation is None:
            raise UserError("this run was trained before runs kept their vocabulary with the model; run it again")
        return CharRNN(len(preparation.vocabulary), cfg.embedding, cfg.hidden, cfg.layers)

    def dynamic_dims(self, cfg: CharRNNConfig) -> dict[int, str]:
        return {0: "batch", 1: "characters"}

    def generate(self, run, prime: str = "X:1\n", length: int = 1000, temperature: float = 0.8, seed: int = 0,
                 out: Path | None = None) -> dict[str, Any]:
        """Sample from a loaded run (``mlprojects.rundir.load``); write the ABC text, MIDI for the valid tunes
        and a piano roll."""
        if length <= 0:
            raise UserError(f"--length {length}: must be greater than 0")
        text = sample(run.model, run.preparation.vocabulary, prime, length, temperature, seed)
        out = Path(out) if out is not None else run.path / "generated" / f"seed{seed}-t{temperature}.abc"
        figures = write_generated(text, out, out.with_suffix(".png"))
        return {"abc": str(out), **figures}

    def loss_fn(self, cfg: CharRNNConfig):
        return sequence_loss

    def metrics(self, cfg: CharRNNConfig):
        return {"accuracy": sequence_accuracy}

    def report(self, run_dir: Path, cfg: CharRNNConfig, trainer: Trainer, data: Prepared) -> dict[str, Any]:
        from mlprojects.engine.checkpoint import unwrap
        from mlprojects.engine.io import write_text

        vocabulary = data.meta["vocabulary"]
        write_text(run_dir / VOCAB_FILE, json.dumps(vocabulary))  # for people and other tools; the model keeps its own
        plots.learning_curves(trainer.history, run_dir / "plots" / "learning_curves.png")
        validation = trainer.evaluate(data.test)
        model = unwrap(trainer.model).cpu()
        text = sample(model, vocabulary, "X:1\n", cfg.sample_length, cfg.temperature, cfg.seed)
        model.to(trainer.device)
        figures = write_generated(text, run_dir / "generated" / "sample.abc", run_dir / "plots" / "piano_roll.png")
        return {"corpus": cfg.corpus, "train_tunes": data.meta["tunes"][0], "val_tunes": data.meta["tunes"][1],
                "train_characters": data.meta["characters"][0], "vocabulary_size": len(vocabulary),
                "val_bits_per_char": validation["loss"] / math.log(2),
                **{f"sample_{k}": v for k, v in figures.items()}}


def write_generated(text: str, out: Path, piano_roll: Path | None = None) -> dict[str, Any]:
    """Write the sampled text, a MIDI file per valid tune beside it, and a piano roll of the first."""
    from mlprojects.engine.io import write_text

    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, text)
    tunes, parsed = judge(text)
    valid = [tune for tune in parsed if tune is not None]
    midi = []
    for number, tune in enumerate(valid, 1):
        path = out.with_name(f"{out.stem}-{number}.mid")
        path.write_bytes(tune.midi)
        midi.append(str(path))
    if valid and piano_roll is not None:
        score = valid[0].score
        notes = [(float(n.getOffsetInHierarchy(score)), float(n.duration.quarterLength), p.midi)
                 for n in score.recurse().notes for p in n.pitches]
        plots.piano_roll(notes, piano_roll, f"a generated tune ({len(notes)} notes)")
    bars = [bars_in_meter(tune.score) for tune in valid]
    inner = sum(total for _, total in bars)
    return {"tunes": len(tunes), "valid_tunes": len(valid),
            "valid_fraction": len(valid) / len(tunes) if tunes else 0.0,
            "bars_in_meter_fraction": sum(ok for ok, _ in bars) / inner if inner else 0.0, "midi_files": midi}


def bars_in_meter(score) -> tuple[int, int]:
    """(bars whose length is the meter's, bars checked): music21 reads a bar of the wrong length
    as valid ABC, so this stricter figure says how well the model counts beats. The first bar (a
    pick-up) and the last are not checked."""
    try:
        measures = list(score.parts[0].getElementsByClass("Measure"))[1:-1] if score.parts else []
        ok = sum(abs(m.duration.quarterLength - m.barDuration.quarterLength) < 1e-6 for m in measures)
    except Exception:  # no meter to check against
        return 0, 0
    return int(ok), len(measures)


BACH_CHARRNN = BachCharRNN()
