"""Looking inside a pretrained encoder: tokens and ids, hidden-state shapes, one token's embedding,
and parameters per module (the notebook's torchinfo table)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlprojects.errors import UserError
from mlprojects.nlp import hub


@dataclass
class Inspection:
    model: str
    tokens: list[str]
    ids: list[int]
    hidden_shape: tuple[int, ...]
    token_index: int
    embedding: list[float]  # the chosen token's vector in last_hidden_state
    modules: list[tuple[str, int]] = field(default_factory=list)  # (name, parameters)
    total: int = 0
    trainable: int = 0


def parameter_summary(model) -> list[tuple[str, int]]:
    """Parameters per top-level block: the embeddings, each encoder layer, the pooler and the rest."""
    counts: dict[str, int] = {}
    for name, parameter in model.named_parameters():
        parts = name.split(".")
        if "layer" in parts:  # encoder.layer.3.attention... -> encoder.layer.3
            at = parts.index("layer")
            key = ".".join(parts[:at + 2])
        else:
            key = parts[0]
        counts[key] = counts.get(key, 0) + parameter.numel()
    return list(counts.items())


def inspect(model_name: str, text: str = "Hello, how are you?", token: int | str = 1) -> Inspection:
    import torch

    model, tokenizer = hub.load(model_name)
    model.eval()
    encoded = tokenizer(text, return_tensors="pt", truncation=True)
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
    if isinstance(token, str) and not token.lstrip("-").isdigit():
        if token not in tokens:
            raise UserError(f"--token {token!r} is not among the tokens: {' '.join(tokens)}")
        index = tokens.index(token)
    else:
        index = int(token)
        if not -len(tokens) <= index < len(tokens):
            raise UserError(f"--token {index}: the text has {len(tokens)} tokens (0..{len(tokens) - 1})")
        index %= len(tokens)
    with torch.inference_mode():
        hidden = model(**encoded).last_hidden_state
    parameters = list(model.parameters())
    return Inspection(model_name, tokens, encoded["input_ids"][0].tolist(), tuple(hidden.shape), index,
                      hidden[0, index].tolist(), parameter_summary(model), sum(p.numel() for p in parameters),
                      sum(p.numel() for p in parameters if p.requires_grad))
