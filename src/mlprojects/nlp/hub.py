"""Models by hub id or local folder, with one clear line instead of a long hang when offline.

transformers retries the hub for about a minute when there is no network. Here a model is first
looked for as a folder and in the local cache; only if it is in neither is the hub asked, after a
3-second check that it can be reached at all.
"""

from __future__ import annotations

import contextlib
import os
import socket
import warnings
from pathlib import Path
from urllib.parse import urlparse

from mlprojects.errors import UserError, require


def _transformers():
    transformers = require("transformers", "nlp", "NLP needs transformers")
    transformers.utils.logging.disable_progress_bar()  # no per-file loading bars in our output
    return transformers


@contextlib.contextmanager
def _quiet(transformers):
    """transformers' own logging held to errors: its 9-line LOAD REPORT of weights a checkpoint lacks is said here in
    one line (or refused), as every warning of ours is."""
    level = transformers.utils.logging.get_verbosity()
    transformers.utils.logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers.utils.logging.set_verbosity(level)


def hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        with socket.create_connection((endpoint.hostname, endpoint.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def load(name: str, auto_class: str | None = "AutoModel", trained: bool = False, **kwargs):
    """(model, tokenizer) for a hub id or a folder holding a saved model; ``auto_class=None``: (None, tokenizer).
    TRAINED: the checkpoint must have been saved as a model of AUTO_CLASS's task, with every weight of it, as a
    task's answers need: transformers starts a missing head at random (with a warning) and answers with it, and a
    sentence classifier's head even loads into a token classifier unnoticed (both are named ``classifier``, of
    the same shape), labelling each word with a sentence's label. Another task's model is one line naming it."""
    transformers = _transformers()
    model_class = getattr(transformers, auto_class) if auto_class else None
    folder = Path(name).expanduser()
    if folder.exists() and not (folder / "config.json").is_file():
        raise UserError(f"--model {name}: the folder has no config.json; give a folder written by save_pretrained")
    attempts = [{"local_files_only": True}]
    if not folder.exists():
        attempts.append({})
    problem = ""
    for index, options in enumerate(attempts):
        if index == 1 and not hub_reachable():
            break
        problem = "" if index == 0 else problem
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder) if folder.exists() else name, **options)
            model = None
            if model_class is not None:
                with _quiet(transformers):
                    model, info = model_class.from_pretrained(str(folder) if folder.exists() else name, **options,
                                                              **kwargs, output_loading_info=True)
                missing = sorted(info.get("missing_keys") or [])
                if trained:
                    _check_task(name, model, model_class, auto_class, missing)
                elif missing:
                    warnings.warn(f"--model {name}: {_some(missing)} not in the checkpoint, started at random (a "
                                  "task's new head, which fine-tuning trains)", stacklevel=2)
            return model, tokenizer
        except ImportError as error:  # e.g. Japanese BERT's tokenizer without fugashi and unidic-lite
            raise UserError(f"--model {name}: its tokenizer needs a package that is not installed "
                            f"({str(error).splitlines()[0]}); pip install 'mlprojects[nlp]' brings fugashi and "
                            "unidic-lite for Japanese") from None
        except (OSError, ValueError) as error:
            if folder.exists():
                first = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise UserError(f"--model {name}: cannot load it ({first})") from None
            problem = str(error).strip().splitlines()[0] if index == 1 else ""
    raise UserError(f"--model {name}: not a local folder, not in the Hugging Face cache, and the hub cannot be "
                    f"reached; download it where there is a network (hf download {name}) or give "
                    "the path of a folder holding the model" + (f" (the hub said: {problem})" if problem else ""))


def _check_task(name: str, model, model_class, auto_class: str, missing: list[str]) -> None:
    """A UserError unless the checkpoint NAME was saved as one of MODEL_CLASS's architectures (those transformers
    maps to it, by model type) and held every weight it needs (MISSING: those it did not)."""
    saved = list(getattr(model.config, "architectures", None) or [])
    mapping = getattr(getattr(model_class, "_model_mapping", None), "_model_mapping", None)  # model type -> class
    if saved and isinstance(mapping, dict) and not set(saved) & set(mapping.values()):
        raise UserError(f"--model {name}: saved as {', '.join(saved)}, not as a model for this task ({auto_class}); "
                        "give a model fine-tuned for it")
    if missing:
        raise UserError(f"--model {name}: it has no trained weights for this task ({auto_class} needs "
                        f"{_some(missing)}); give a model fine-tuned for it")


def _some(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def load_tokenizer(name: str):
    """The tokenizer alone (same search as :func:`load`)."""
    return load(name, auto_class=None)[1]
