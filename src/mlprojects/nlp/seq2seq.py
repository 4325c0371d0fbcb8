"""Summarization and translation on ``AutoModelForSeq2SeqLM``, our own code (transformers 5 removed both
pipelines), with the prefixes and generation settings of a model's ``task_specific_params`` (T5) and the
target-language start token of many-to-many models (mBART, NLLB, M2M100)."""

from __future__ import annotations

import inspect
from typing import Any

from mlprojects.errors import UserError
from mlprojects.nlp.batching import Progress, apply, load

SEQ2SEQ = "AutoModelForSeq2SeqLM"
RESULT_KEYS = {"summarization": "summary_text", "translation": "translation_text"}


def _generation_settings(model, tokenizer, task: str, source_lang: str, target_lang: str) -> tuple[str, dict]:
    """The prefix and generation settings a seq2seq model declares for TASK (T5's task_specific_params),
    and the target-language start token of many-to-many models (mBART, NLLB, M2M100)."""
    specific = getattr(model.config, "task_specific_params", None) or {}
    settings: dict[str, Any] = {}
    if task == "translation":
        key = f"translation_{source_lang}_to_{target_lang}"
        keys = [name for name in specific if name.startswith("translation")]
        if source_lang and target_lang and key in specific:
            settings = dict(specific[key])
        elif not (source_lang or target_lang) and len(keys) == 1:
            settings = dict(specific[keys[0]])
        elif keys and not (target_lang and target_lang in tokenizer.get_vocab()):
            raise UserError(f"this model translates {', '.join(k.removeprefix('translation_') for k in keys)}: "
                            "choose with --source-lang and --target-lang")
        if source_lang and hasattr(tokenizer, "src_lang"):
            tokenizer.src_lang = source_lang
        if target_lang and target_lang in tokenizer.get_vocab():
            settings["forced_bos_token_id"] = tokenizer.convert_tokens_to_ids(target_lang)
    else:
        settings = dict(specific.get(task, {}))
    prefix = settings.pop("prefix", "") or ""
    return prefix, {key: value for key, value in settings.items() if key not in ("task",)}


def generate(task: str, model_name: str, texts: list[str], *, source_lang: str = "", target_lang: str = "",
             batch_size: int = 8, precision: str = "fp32", device: str = "cpu",
             progress: Progress | None = None, **generation: Any) -> list[dict]:
    """Summaries or translations from an encoder-decoder model: {"summary_text"} or {"translation_text"}
    per input, as transformers 4's pipelines returned them. GENERATION (max_new_tokens, num_beams, ...)
    overrides the model's own settings."""
    model, tokenizer = load(model_name, SEQ2SEQ, device)
    prefix, settings = _generation_settings(model, tokenizer, task, source_lang, target_lang)
    settings.update({key: value for key, value in generation.items() if value is not None})
    if settings.get("max_new_tokens"):
        settings.pop("max_length", None)
    key = RESULT_KEYS[task]
    accepted = inspect.signature(model.forward).parameters  # a word-piece tokenizer adds token_type_ids

    def write(encoded) -> list[dict]:
        output = model.generate(**{k: v for k, v in encoded.items() if k in accepted}, **settings)
        return [{key: text.strip()} for text in tokenizer.batch_decode(output, skip_special_tokens=True)]

    return apply(model, tokenizer, texts, batch_size, precision, write, progress=progress, prefix=prefix)
