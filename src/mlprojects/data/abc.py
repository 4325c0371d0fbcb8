"""Music as ABC text: a converter from music21 melodies, the corpora, and a strict-enough check.

``melody_to_abc`` writes one part of a score as an ABC tune: ``X:``, ``T:``, ``M:`` (the meter),
``L:1/8`` (the unit note length), ``K:`` (the key), then the notes bar by bar. ABC pitch letters
follow the key signature; an accidental is written on every note that leaves it (and on a note
that returns to it within a bar that left it), so readers that carry accidentals to the end of the
bar (the standard) and readers that do not (music21) hear the same notes.

Corpora (both from the ``music21`` package, offline): ``bach`` converts the melody (the first
part, the soprano) of each Bach chorale; ``nottingham`` takes the ABC tunes music21 ships with the
Nottingham Music Database sample: its 2 Nottingham tunes and the British and Irish tunes of the
same tradition (O'Neill's 1850, Ryan's Mammoth, Aird's Airs, miscellaneous folk), 4,435 in all.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from mlprojects.errors import UserError, require

CORPORA = ("bach", "nottingham")
CONVERTER_VERSION = 2  # part of the cached conversion's name: a new converter converts again
FOLK_FOLDERS = ("nottingham-dataset", "oneills1850", "ryansMammoth", "airdsAirs", "miscFolk")
ACCIDENTALS = {-2: "__", -1: "_", 0: "=", 1: "^", 2: "^^"}


def _music21():
    return require("music21", "music", "music needs music21")


def abc_pitch(step: str, octave: int) -> str:
    """The ABC letter of a pitch without its accidental: C4 (middle C) -> C, C5 -> c, C6 -> c', C3 -> C,"""
    if octave >= 5:
        return step.lower() + "'" * (octave - 5)
    return step.upper() + "," * (4 - octave)


def abc_length(quarter_length: float, unit: Fraction = Fraction(1, 8)) -> str:
    """A duration as a multiple of the unit note length: 1 -> '', 2 -> '2', 1/2 -> '/2', 3/2 -> '3/2'."""
    ratio = Fraction(quarter_length).limit_denominator(64) / (unit * 4)
    if ratio == 1:
        return ""
    if ratio.denominator == 1:
        return str(ratio.numerator)
    return (str(ratio.numerator) if ratio.numerator != 1 else "") + f"/{ratio.denominator}"


def abc_key(key_signature) -> str:
    """music21 KeySignature or Key -> ABC K: field (G, F#m, Bb, Ebm ...)."""
    mode = getattr(key_signature, "mode", "major")
    key = key_signature.asKey("minor" if mode == "minor" else "major")
    return key.tonic.name.replace("-", "b") + ("m" if key.mode == "minor" else "")


def melody_to_abc(part, title: str = "", index: int = 1) -> str:
    """One part of a music21 score as an ABC tune (notes, rests, ties; chords keep their top note)."""
    m21 = _music21()
    signatures = list(part.recurse().getElementsByClass(m21.key.KeySignature))
    key_signature = signatures[0] if signatures else m21.key.KeySignature(0)
    meters = list(part.recurse().getElementsByClass(m21.meter.TimeSignature))
    meter = meters[0].ratioString if meters else "4/4"
    in_key = {p.step: int(p.alter) for p in key_signature.alteredPitches}
    bars = []
    for measure in part.getElementsByClass(m21.stream.Measure):
        state: dict[tuple[str, int], int] = {}
        tokens = []
        for element in measure.recurse().notesAndRests:
            if element.duration.quarterLength == 0:  # grace notes
                continue
            length = abc_length(element.duration.quarterLength)
            if element.isRest:
                tokens.append("z" + length)
                continue
            pitch = element.pitches[-1]
            alter = int(pitch.alter)
            where = (pitch.step, pitch.octave)
            key_alter = in_key.get(pitch.step, 0)
            # explicit whenever the note leaves the key signature, or returns to it within a bar
            # that altered it: the text then reads the same whether a reader carries accidentals to
            # the bar's end (the ABC standard) or not (music21's reader)
            if alter != key_alter or alter != state.get(where, key_alter):
                prefix = ACCIDENTALS.get(alter)
                if prefix is None:
                    raise ValueError(f"cannot write {pitch.nameWithOctave} in ABC")
                state[where] = alter
            else:
                prefix = ""
            tie = "-" if element.tie is not None and element.tie.type in ("start", "continue") else ""
            tokens.append(prefix + abc_pitch(pitch.step, pitch.octave) + length + tie)
        if tokens:
            bars.append(" ".join(tokens))
    if not bars:
        raise ValueError("the part has no notes")
    header = [f"X:{index}", f"T:{title or 'untitled'}", f"M:{meter}", "L:1/8", f"K:{abc_key(key_signature)}"]
    return "\n".join(header) + "\n" + " | ".join(bars) + " |]\n"


HEADER_KEPT = ("X:", "T:", "M:", "L:", "Q:", "K:")


def split_tunes(text: str) -> list[str]:
    """An ABC file -> its tunes, each starting at an ``X:`` line; comment lines, blank lines and the
    header fields that are not music (source, notes, transcriber...) are left out."""
    tunes, current, in_header = [], [], False
    for line in text.splitlines():
        if line.startswith("X:"):
            if current:
                tunes.append("\n".join(current) + "\n")
            current, in_header = [line.strip()], True
        elif current and line.strip() and not line.startswith("%"):
            if in_header and re.match(r"^[A-Za-z]:", line) and not line.startswith(HEADER_KEPT):
                continue
            in_header = in_header and not line.startswith("K:")
            current.append(line.rstrip())
    if current:
        tunes.append("\n".join(current) + "\n")
    return [tune for tune in tunes if "\nK:" in tune]


@dataclass
class ParsedTune:
    score: object  # music21 Score
    midi: bytes  # the tune as a standard MIDI file


def parse_tune(tune: str) -> ParsedTune | None:
    """An ABC tune -> its music21 score and MIDI bytes, or None unless music21 reads it as ABC with a
    key and at least 4 notes and can render it as MIDI (valid ABC that a user can listen to)."""
    m21 = _music21()
    if not re.search(r"^K:", tune, flags=re.M) or not tune.startswith("X:"):
        return None
    try:
        score = m21.converter.parse(tune, format="abc")
        if len(list(score.recurse().notes)) < 4:
            return None
    except Exception:  # music21 raises many kinds on bad ABC: all mean "not valid"
        return None
    # music21's MIDI writer trips over some scores whose bars are shorter than the meter (it inserts
    # a TimeSignature twice, and the failed attempt leaves the score changed); a fresh parse of the
    # tune, flattened to its notes and rests, goes through with the same pitches and timing
    views = (lambda: score, lambda: m21.converter.parse(tune, format="abc").flatten().notesAndRests.stream())
    for view in views:
        try:
            return ParsedTune(score, m21.midi.translate.streamToMidiFile(view()).writestr())
        except Exception:
            continue
    return None


def _cache_dir() -> Path:
    from mlprojects.data.store import home

    return home() / "music"


def corpus_tunes(name: str) -> list[str]:
    """Every tune of a corpus as ABC text, in a fixed order. The Bach conversion (a minute of
    MusicXML parsing) is cached under $MLPROJECTS_HOME/music, keyed by the music21 version."""
    if name not in CORPORA:
        raise UserError(f"corpus={name!r}: use one of {', '.join(CORPORA)}")
    m21 = _music21()
    root = Path(os.path.dirname(m21.corpus.__file__))
    if name == "nottingham":
        tunes = []
        for folder in FOLK_FOLDERS:
            for path in sorted((root / folder).glob("*.abc")):
                tunes += split_tunes(path.read_text(encoding="latin-1"))
        return tunes
    cache = _cache_dir() / f"bach-melodies-v{CONVERTER_VERSION}-music21-{m21.__version__}.abc"
    if cache.is_file():
        return split_tunes(cache.read_text(encoding="utf-8"))
    tunes = []
    for path in sorted(m21.corpus.getComposer("bach"), key=str):
        try:
            score = m21.corpus.parse(path)
            sopranos = [p for p in score.parts if "soprano" in f"{p.partName} {p.id}".lower()]
            part = sopranos[0] if sopranos else score.parts[0]
            tunes.append(melody_to_abc(part, Path(path).stem.replace("bwv", "BWV "), len(tunes) + 1))
        except Exception:  # a few corpus files have no parts or unusual notation: left out
            continue
    from mlprojects.engine.io import write_text

    cache.parent.mkdir(parents=True, exist_ok=True)
    write_text(cache, "\n".join(tunes))
    return tunes


def split_by_tune(tunes: list[str], val_every: int = 10) -> tuple[list[str], list[str]]:
    """Deterministic train/validation split by tune: a tune is in validation when the hash of its
    text falls in 1/val_every of the range (stable across runs, machines and corpus order)."""
    train, val = [], []
    for tune in tunes:
        bucket = int(hashlib.sha256(tune.encode()).hexdigest()[:8], 16) % val_every
        (val if bucket == 0 else train).append(tune)
    return train, val
