"""bach-charrnn: the ABC converter on hand-made scores, the corpus tools, sampling and the generate command."""

from __future__ import annotations

import pytest
import torch

m21 = pytest.importorskip("music21")

from mlprojects.builtin.music import CharRNN, bars_in_meter, sample, sequence_loss, sequences  # noqa: E402
from mlprojects.data import abc  # noqa: E402
from mlprojects.runner import run  # noqa: E402


def test_pitches_and_lengths_by_hand():
    assert [abc.abc_pitch("C", o) for o in (2, 3, 4, 5, 6)] == ["C,,", "C,", "C", "c", "c'"]
    assert [abc.abc_length(q) for q in (0.5, 1, 0.25, 0.75, 1.5, 4)] == ["", "2", "/2", "3/2", "3", "8"]


def _hand_made_score():
    """G major, 3/4: F# is in the key, so every F natural is written =F."""
    part = m21.stream.Part()
    first = m21.stream.Measure(number=1)
    first.append([m21.key.KeySignature(1), m21.meter.TimeSignature("3/4")])
    first.append([m21.note.Note("F#4", quarterLength=1), m21.note.Note("F4", quarterLength=0.5),
                  m21.note.Note("F4", quarterLength=0.5), m21.note.Note("D5", quarterLength=1)])
    second = m21.stream.Measure(number=2)
    tied = m21.note.Note("G3", quarterLength=1.5)
    tied.tie = m21.tie.Tie("start")
    second.append([m21.note.Note("F4", quarterLength=1), tied])
    third = m21.stream.Measure(number=3)
    end = m21.note.Note("G3", quarterLength=0.5)
    end.tie = m21.tie.Tie("stop")
    third.append([end, m21.note.Rest(quarterLength=0.5), m21.note.Note("B-5", quarterLength=2)])
    part.append([first, second, third])
    return part


def test_melody_to_abc_writes_key_meter_accidentals_ties_and_bars():
    text = abc.melody_to_abc(_hand_made_score(), "test", 7)
    assert text == ("X:7\nT:test\nM:3/4\nL:1/8\nK:G\n"
                    "F2 =F =F d2 | =F2 G,3- | G, z _b4 |]\n")


def test_the_abc_reads_back_as_the_same_melody():
    original = _hand_made_score()
    score = m21.converter.parse(abc.melody_to_abc(original), format="abc")
    def notes(stream):
        return [(n.nameWithOctave if n.isNote else "rest", float(n.duration.quarterLength))
                for n in stream.recurse().notesAndRests]
    assert notes(score) == notes(original)


def test_split_tunes_keeps_music_headers_and_drops_comments():
    text = ("% a file comment\nX: 1\nT:One\nB:a book\nZ:someone@example.org\nM:4/4\nL:1/8\nK:D\n"
            "% inside\nABcd efga|\nN:a note in the body stays\n\nX:2\nT:No key\nABC\n\nX:3\nT:Two\nK:G\nGABc|]\n")
    tunes = abc.split_tunes(text)
    assert tunes == ["X: 1\nT:One\nM:4/4\nL:1/8\nK:D\nABcd efga|\nN:a note in the body stays\n",
                     "X:3\nT:Two\nK:G\nGABc|]\n"]


def test_parse_tune_accepts_music_and_refuses_the_rest():
    good = abc.parse_tune("X:1\nT:t\nM:4/4\nL:1/8\nK:C\nCDEF GABc | c2 B2 A2 G2 |]\n")
    assert good is not None and good.midi.startswith(b"MThd")
    assert abc.parse_tune("X:1\nT:t\nCDEF GABc|\n") is None  # no key
    assert abc.parse_tune("X:1\nK:C\nC D|\n") is None  # fewer than 4 notes
    assert abc.parse_tune("T:t\nK:C\nCDEF GABc|\n") is None  # no X: line
    wrong_bars = abc.parse_tune("X:1\nM:4/4\nL:1/8\nK:C\nC8 | CDEF | CDEFGABc | c8 |]\n")
    assert bars_in_meter(wrong_bars.score) == (1, 2)  # bar 2 has 4 eighths of 8, bar 3 is full


def test_split_by_tune_is_deterministic_and_disjoint():
    tunes = [f"X:{i}\nK:C\nCDEF|\n" for i in range(200)]
    train, val = abc.split_by_tune(tunes)
    assert abc.split_by_tune(list(reversed(tunes))) == (train[::-1], val[::-1])  # by tune, not by position
    assert not set(train) & set(val) and len(train) + len(val) == 200 and 5 < len(val) < 40


def test_sequences_shift_by_one_and_the_loss_sum_is_sequences_times_mean():
    data = sequences(torch.arange(11), 5)
    assert data.inputs.tolist() == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert data.targets.tolist() == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]
    outputs, targets = torch.randn(3, 4, 6), torch.randint(0, 6, (3, 4))
    mean = torch.nn.functional.cross_entropy(outputs.reshape(12, 6), targets.reshape(12))
    torch.testing.assert_close(sequence_loss(outputs, targets), mean)
    torch.testing.assert_close(sequence_loss(outputs, targets, reduction="sum"), 3 * mean)


def test_sampling_is_reproducible_with_a_seed():
    torch.manual_seed(0)
    vocabulary = sorted(set("X:1\nK:C\nABCDEFG|] "))
    model = CharRNN(len(vocabulary), 8, 16)
    first = sample(model, vocabulary, "X:1\n", 60, 0.8, seed=3)
    assert first == sample(model, vocabulary, "X:1\n", 60, 0.8, seed=3) and first.startswith("X:1\n")
    assert len(first) == 64 and first != sample(model, vocabulary, "X:1\n", 60, 0.8, seed=4)


def test_train_then_generate_from_the_command_line(tmp_path, cli):
    from mlprojects import registry

    run_dir = run("bach-charrnn", registry.get("bach-charrnn").smoke_settings, out=tmp_path / "run", progress=False)
    assert (run_dir / "vocabulary.json").is_file() and (run_dir / "plots" / "learning_curves.png").is_file()
    out = tmp_path / "tune.abc"
    result = cli("generate", "bach-charrnn", "--run", str(run_dir), "--length", "300", "--seed", "5",
                 "--out", str(out))
    assert result.code == 0, result.err
    assert out.read_text().startswith("X:1\n") and len(out.read_text()) == 304 and "valid ABC" in result.out
    again = tmp_path / "again.abc"
    cli("generate", "bach-charrnn", "--run", str(run_dir), "--length", "300", "--seed", "5", "--out", str(again))
    assert again.read_text() == out.read_text()
    bad = cli("generate", "bach-charrnn", "--run", str(run_dir), "--temperature", "0")
    assert bad.code == 2 and "temperature" in bad.err
    bad = cli("generate", "bach-charrnn", "--run", str(tmp_path))
    assert bad.code == 2 and "not a run directory" in bad.err
    bad = cli("generate", "bach-charrnn", "--run", str(run_dir), "--prime", "X:1\n\u00e6\u00f8")
    assert bad.code == 2 and "vocabulary" in bad.err
