"""Atomic writes: a file is either its old content or its new content, never half of each."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

_UMASK = os.umask(0)
os.umask(_UMASK)


def save_safetensors(path: str | Path, tensors: dict[str, Any], metadata: dict[str, str] | None = None) -> Path:
    """TENSORS and METADATA as a safetensors file, written atomically, the same bytes for the same content:
    safetensors writes the metadata in the order of a hash map, different in every process, so the keys are
    sorted here, in the written file's header (which keeps its length). safetensors writes the file itself:
    building it in memory first (``save``) and copying it twice took 1.0 s of CPU for a checkpoint of 189 MB,
    against 0.1 s."""
    from safetensors.torch import save_file

    def write(temporary: str) -> None:
        save_file(tensors, temporary, metadata=metadata)
        if not metadata:
            return
        with open(temporary, "r+b") as handle:
            size = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(size))
            header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
            text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
            if len(text) <= size:
                handle.seek(8)
                handle.write(text.ljust(size))

    return atomic_write(path, write)


def usual_mode(path: str | Path) -> None:
    """Give a file (or folder) made by ``tempfile`` (0600, or 0700) the mode the user's umask gives new ones."""
    os.chmod(path, (0o777 if os.path.isdir(path) else 0o666) & ~_UMASK)


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call ``write(temporary_path)``, then rename the result onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        usual_mode(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def json_safe(value: Any) -> Any:
    """VALUE with every non-finite float (NaN, infinity) as None: JSON has no token for them, and most
    readers refuse Python's NaN and Infinity."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def dumps(value: Any, **options: Any) -> str:
    """Strict JSON: json.dumps of json_safe(VALUE), refusing anything else that is not JSON."""
    return json.dumps(json_safe(value), allow_nan=False, **options)


def write_json(path: str | Path, data: Any) -> Path:
    return write_text(path, dumps(data, indent=2, sort_keys=False) + "\n")
