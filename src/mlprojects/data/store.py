"""Where datasets live: the package (embedded), system folders, and the download cache.

Downloads stream into a temporary file beside their destination while hashing, are checked
against the spec, and only then renamed into place: an interrupted or corrupt download leaves
nothing behind. Files already present are checked on every use, so a damaged cache is reported,
not trained on.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Any

from mlprojects.data.catalog import DatasetSpec, FileSpec, get_spec
from mlprojects.errors import UserError

EMBEDDED_DIR = Path(__file__).parent / "embedded"
_CHUNK = 1 << 20


def home() -> Path:
    return Path(os.environ.get("MLPROJECTS_HOME") or Path.home() / ".cache" / "mlprojects")


def cache_dir(spec: DatasetSpec) -> Path:
    return EMBEDDED_DIR if spec.embedded else home() / "datasets" / spec.name


def sha256_of(path: Path, opener: Any = open) -> str:
    """The sha256 of the file at PATH, read through OPENER (``gzip.open``: of its content)."""
    with opener(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def matches(path: Path, file: FileSpec) -> tuple[bool, str]:
    """(whether the file is the spec's data, its sha256)."""
    actual = sha256_of(path)
    if actual == file.sha256:
        return True, actual
    if file.content_sha256:  # the same data, compressed again
        with contextlib.suppress(OSError, EOFError, zlib.error):
            if sha256_of(path, gzip.open) == file.content_sha256:
                return True, actual
    return False, actual


def _mismatch(spec: DatasetSpec, file: FileSpec, where: Path, actual: str) -> UserError:
    return UserError(
        f"{spec.name}: {where} has sha256 {actual}, expected {file.sha256}; the file is corrupt or not the"
        f" published one: delete it and run `mlprojects data fetch {spec.name}`"
    )


def status(spec: DatasetSpec) -> dict[str, str]:
    """file name -> 'ok (PATH)' | 'missing' | 'corrupt (PATH)', without downloading."""
    result = {}
    for file in spec.files:
        path = _find(spec, file)
        if path is None:
            result[file.name] = "missing"
        else:
            result[file.name] = ("ok" if matches(path, file)[0] else "corrupt") + f" ({path})"
    return result


def _find(spec: DatasetSpec, file: FileSpec) -> Path | None:
    for folder in (cache_dir(spec), *map(Path, spec.system_dirs)):
        if (folder / file.name).is_file():
            return folder / file.name
    return None


def locate(name: str, download: bool = True) -> dict[str, Path]:
    """Verified paths of every file of the dataset, downloading what is missing."""
    spec = get_spec(name)
    paths: dict[str, Path] = {}
    for file in spec.files:
        path = _find(spec, file)
        if path is None:
            if not download or spec.embedded:
                raise _missing(spec, file)
            path = _download(spec, file)
        else:
            ok, actual = matches(path, file)
            if not ok:
                raise _mismatch(spec, file, path, actual)
        paths[file.name] = path
    return paths


def _missing(spec: DatasetSpec, file: FileSpec, reason: str = "") -> UserError:
    because = f" and could not be downloaded ({reason})" if reason else ""
    return UserError(
        f"dataset {spec.name}: {file.name} is not in {cache_dir(spec)}{because}; if you have the files, "
        f"run `mlprojects data fetch {spec.name} --from DIR`"
    )


def fetch(name: str, from_dir: str | Path | None = None) -> dict[str, Path]:
    """Put every file of the dataset in the cache: from a local folder, or downloaded."""
    spec = get_spec(name)
    if from_dir is None:
        return locate(name, download=True)
    source = Path(from_dir)
    if not source.is_dir():
        raise UserError(f"--from {source}: no such folder")
    if spec.embedded:
        return locate(name)
    paths = {}
    for file in spec.files:
        candidates = [source / file.name, source / file.name.removesuffix(".gz")]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise UserError(f"dataset {spec.name}: {file.name} is not in {source}; expected files: "
                            + ", ".join(f.name for f in spec.files))
        with open(found, "rb") as stream:
            if found.suffix != ".gz" and file.name.endswith(".gz"):
                stream = _gzip_stream(stream)
            paths[file.name] = _store(spec, file, stream, str(found), size=None)
    return paths


def _gzip_stream(stream):
    """Compress an uncompressed IDX file on import, so the cache always holds the published form."""
    buffer = tempfile.SpooledTemporaryFile(max_size=64 << 20)
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as out:
        shutil.copyfileobj(stream, out, _CHUNK)
    buffer.seek(0)
    return buffer


def _download(spec: DatasetSpec, file: FileSpec) -> Path:
    reasons = []
    for url in file.urls:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                size = int(response.headers.get("Content-Length") or 0) or file.size
                return _store(spec, file, response, url, size)
        except (urllib.error.URLError, OSError) as error:
            reasons.append(f"{url}: {getattr(error, 'reason', error)}")
    raise _missing(spec, file, "; ".join(reasons) or "no download address")


def _store(spec: DatasetSpec, file: FileSpec, stream, source: str, size: int | None) -> Path:
    """Copy a stream into the cache through a temporary file, hashing it; keep it only if it matches."""
    folder = cache_dir(spec)
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{file.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out, _progress(f"{spec.name}/{file.name}", size) as advance:
            while chunk := stream.read(_CHUNK):
                out.write(chunk)
                advance(len(chunk))
        ok, actual = matches(Path(temporary), file)
        if not ok:
            raise UserError(
                f"{spec.name}: {file.name} from {source} has sha256 {actual}, expected {file.sha256};"
                " nothing was kept: check the source and try again"
            )
        os.replace(temporary, folder / file.name)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return folder / file.name


@contextlib.contextmanager
def _progress(label: str, total: int | None):
    """A rich progress bar for one file, quiet when output is not a terminal; yields advance(bytes)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    with Progress("[bold]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(), transient=True,
                  disable=not os.isatty(2)) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
