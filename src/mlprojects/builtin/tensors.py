"""tensor-basics: the book's chapter 1 tensors, each TensorFlow 1 call beside its PyTorch equivalent and the
value it gives (Bonnin, 1.1-1.4).

The chapter builds tensors of every rank, creates them (zeros, ones, fill, linspace, range, random),
does matrix operations (transpose, matmul, determinant, inverse, solve), reductions along an axis,
segmentation (sums, products, minima, maxima and means of segments), sequences (argmin, argmax,
setdiff1d, where, unique) and shape changes (shape, reshape, squeeze, expand_dims), on small tensors
it prints. Each operation here runs in PyTorch on the book's own inputs; ``report.md`` puts the
TensorFlow 1 call, the PyTorch call and the value side by side, top to bottom, for a learner to read,
and metrics.json keeps every value (a test checks each one, computed by hand).

Two of the book's calls have no one-call equivalent: ``tf.segment_prod`` (here ``scatter_reduce`` with
``reduce="prod"``) and ``tf.setdiff1d`` (here a mask of ``torch.isin``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from mlprojects.config import ProjectConfig
from mlprojects.project import DemoProject


@dataclass
class TensorBasicsConfig(ProjectConfig):
    pass


# the book's inputs
RANK3 = [[[1, 2], [2, 3]], [[3, 4], [5, 6]]]
X4 = [[2, 5, 3, -5], [0, 3, -2, 5], [4, 3, 5, 3], [6, 1, 4, 0]]
X3 = [[1, 2, 3], [3, 2, 1], [-1, -2, -3]]
BOOLS = [[True, False, True], [False, False, True], [True, False, False]]
SEGMENT_IDS = [0, 1, 1, 2, 2]
TENS1 = [[2, 5, 3, -5], [0, 3, -2, 5], [4, 3, 5, 3], [6, 1, 4, 0], [6, 1, 4, 0]]
LISTX, LISTY = [1, 2, 3, 4, 5, 6, 7, 8], [4, 5, 8, 9]
IM = [[1, 2, 3], [4, 5, 6]]
SQUARE = [[2.0, 1.0], [1.0, 3.0]]


def segments(values: torch.Tensor, ids: torch.Tensor, reduce: str) -> torch.Tensor:
    """tf.segment_*: rows of VALUES reduced within each segment id (sorted ids 0..n-1)."""
    count = int(ids.max()) + 1
    if reduce == "sum":
        return torch.zeros(count, values.shape[1], dtype=values.dtype).index_add_(0, ids, values)
    start = torch.zeros(count, values.shape[1], dtype=values.dtype)
    index = ids[:, None].expand_as(values)
    return start.scatter_reduce(0, index, values, reduce=reduce, include_self=False)


def steps() -> list[tuple[str, str, str, Callable[[], Any]]]:
    """(section, TensorFlow 1 call, PyTorch call, the computation)."""
    t = torch.tensor
    x4, x3, tens1, ids = t(X4), t(X3), t(TENS1), t(SEGMENT_IDS)
    return [
        ("rank, shape and type", "tf.constant(5).get_shape()", "torch.tensor(5).shape", lambda: list(t(5).shape)),
        ("rank, shape and type", "tf.rank(t)  # t: the book's rank-3 tensor", "torch.tensor(t).dim()",
         lambda: t(RANK3).dim()),
        ("rank, shape and type", "t.get_shape()", "torch.tensor(t).shape", lambda: list(t(RANK3).shape)),
        ("rank, shape and type", "sess.run(t[1, 1, 0])", "torch.tensor(t)[1, 1, 0]", lambda: t(RANK3)[1, 1, 0].item()),
        ("rank, shape and type", "tf.constant([1.5, 2]).dtype", "torch.tensor([1.5, 2]).dtype",
         lambda: str(t([1.5, 2]).dtype)),
        ("creating tensors", "tf.zeros([2, 3], tf.int32)", "torch.zeros(2, 3, dtype=torch.int32)",
         lambda: torch.zeros(2, 3, dtype=torch.int32).tolist()),
        ("creating tensors", "tf.ones_like(im)", "torch.ones_like(im)", lambda: torch.ones_like(t(IM)).tolist()),
        ("creating tensors", "tf.fill([2, 3], 9)", "torch.full((2, 3), 9)", lambda: torch.full((2, 3), 9).tolist()),
        ("creating tensors", "tf.linspace(10.0, 12.0, 3)", "torch.linspace(10.0, 12.0, 3)",
         lambda: torch.linspace(10.0, 12.0, 3).tolist()),
        ("creating tensors", "tf.range(3, 18, 3)", "torch.arange(3, 18, 3)", lambda: torch.arange(3, 18, 3).tolist()),
        ("creating tensors", "tf.random_normal([2, 2], seed=1)  # values depend on the library",
         "torch.randn(2, 2, generator=torch.Generator().manual_seed(1)).shape",
         lambda: list(torch.randn(2, 2, generator=torch.Generator().manual_seed(1)).shape)),
        ("matrix operations", "tf.transpose(x)", "x.T", lambda: x4.T.tolist()),
        ("matrix operations", "tf.matmul(x, x)", "x @ x", lambda: (x4 @ x4).tolist()),
        ("matrix operations", "tf.matrix_determinant(m)  # m = [[2, 1], [1, 3]]", "torch.linalg.det(m)",
         lambda: round(torch.linalg.det(t(SQUARE)).item(), 6)),
        ("matrix operations", "tf.matrix_inverse(m)", "torch.linalg.inv(m)",
         lambda: [[round(v, 6) for v in row] for row in torch.linalg.inv(t(SQUARE)).tolist()]),
        ("matrix operations", "tf.matrix_solve(m, [[3], [4]])", "torch.linalg.solve(m, torch.tensor([[3.], [4.]]))",
         lambda: [[round(v, 6) for v in row] for row in torch.linalg.solve(t(SQUARE), t([[3.0], [4.0]])).tolist()]),
        ("reductions", "tf.reduce_prod(x, reduction_indices=1)", "x.prod(1)", lambda: x3.prod(1).tolist()),
        ("reductions", "tf.reduce_min(x, reduction_indices=1)", "x.amin(1)", lambda: x3.amin(1).tolist()),
        ("reductions", "tf.reduce_max(x, reduction_indices=1)", "x.amax(1)", lambda: x3.amax(1).tolist()),
        ("reductions", "tf.reduce_mean(x, reduction_indices=1)", "x.float().mean(1)",
         lambda: x3.float().mean(1).tolist()),
        ("reductions", "tf.reduce_sum(x)", "x.sum()", lambda: x3.sum().item()),
        ("reductions", "tf.reduce_all(b, reduction_indices=1)", "b.all(1)", lambda: t(BOOLS).all(1).tolist()),
        ("reductions", "tf.reduce_any(b, reduction_indices=1)", "b.any(1)", lambda: t(BOOLS).any(1).tolist()),
        ("segmentation", "tf.segment_sum(tens1, seg_ids)", "zeros.index_add_(0, seg_ids, tens1)",
         lambda: segments(tens1, ids, "sum").tolist()),
        ("segmentation", "tf.segment_prod(tens1, seg_ids)", "zeros.scatter_reduce(0, ids, tens1, 'prod', "
         "include_self=False)", lambda: segments(tens1, ids, "prod").tolist()),
        ("segmentation", "tf.segment_min(tens1, seg_ids)", "... reduce='amin'", lambda: segments(tens1, ids, "amin")
         .tolist()),
        ("segmentation", "tf.segment_max(tens1, seg_ids)", "... reduce='amax'", lambda: segments(tens1, ids, "amax")
         .tolist()),
        ("segmentation", "tf.segment_mean(tens1, seg_ids)", "... reduce='mean' (integer mean, as TensorFlow's)",
         lambda: segments(tens1, ids, "mean").tolist()),
        ("sequences", "tf.argmin(x, 1)", "x.argmin(1)", lambda: x4.argmin(1).tolist()),
        ("sequences", "tf.argmax(x, 1)", "x.argmax(1)", lambda: x4.argmax(1).tolist()),
        ("sequences", "tf.setdiff1d(listx, listy)", "listx[~torch.isin(listx, listy)]",
         lambda: t(LISTX)[~torch.isin(t(LISTX), t(LISTY))].tolist()),
        ("sequences", "tf.where(boolx)  # boolx = [[True, False], [False, True]]",
         "torch.nonzero(boolx)", lambda: torch.nonzero(t([[True, False], [False, True]])).tolist()),
        ("sequences", "tf.where(b, x, -x)", "torch.where(b, x, -x)",
         lambda: torch.where(t(BOOLS), x3, -x3).tolist()),
        ("sequences", "tf.unique([1, 1, 2, 4, 4, 4, 7, 8, 8])[0]", "torch.unique(...)  # sorted; TF: first-seen order",
         lambda: torch.unique(t([1, 1, 2, 4, 4, 4, 7, 8, 8])).tolist()),
        ("shapes", "tf.shape(im)", "im.shape", lambda: list(t(IM).shape)),
        ("shapes", "tf.reshape(im, [3, -1])", "im.reshape(3, -1)", lambda: t(IM).reshape(3, -1).tolist()),
        ("shapes", "tf.reshape(im, [-1])", "im.reshape(-1)", lambda: t(IM).reshape(-1).tolist()),
        ("shapes", "tf.squeeze([[[1], [2]]])", "torch.tensor([[[1], [2]]]).squeeze()",
         lambda: t([[[1], [2]]]).squeeze().tolist()),
        ("shapes", "tf.expand_dims(im, 1).get_shape()", "im.unsqueeze(1).shape",
         lambda: list(t(IM).unsqueeze(1).shape)),
        ("shapes", "tf.tile(im, [1, 2])", "im.tile(1, 2)", lambda: t(IM).tile(1, 2).tolist()),
        ("shapes", "tf.pad(im, [[1, 0], [0, 2]])", "torch.nn.functional.pad(im, (0, 2, 1, 0))",
         lambda: torch.nn.functional.pad(t(IM), (0, 2, 1, 0)).tolist()),
    ]


class TensorBasics(DemoProject):
    config_class = TensorBasicsConfig
    devices = ("cpu",)

    def run(self, run_dir: Path, cfg: TensorBasicsConfig, device=None) -> dict[str, Any]:
        from mlprojects import plots
        from mlprojects.engine.io import write_text

        rows, values, section = [], {}, ""
        lines = ["# Tensors: TensorFlow 1 and PyTorch side by side", "",
                 "The book's chapter 1 on its own inputs: `t` = " + str(RANK3) + ", `x` = " + str(X4)
                 + " (matrix operations, sequences) or " + str(X3) + " (reductions), `b` = " + str(BOOLS)
                 + ", `tens1` = " + str(TENS1) + " with `seg_ids` = " + str(SEGMENT_IDS) + ", `im` = "
                 + str(IM) + ", `listx` = " + str(LISTX) + ", `listy` = " + str(LISTY) + ".", ""]
        for number, (part, tensorflow, pytorch, compute) in enumerate(steps(), 1):
            value = compute()
            if part != section:
                section = part
                lines += ["", f"## {part}", "", "| | TensorFlow 1 | PyTorch | value |", "|---|---|---|---|"]
            lines.append(f"| {number} | `{tensorflow}` | `{pytorch}` | `{value}` |")
            values[f"{number:02d} {tensorflow}"] = value
            rows.append(value)
        write_text(run_dir / "report.md", "\n".join(lines) + "\n")
        plots.side_by_side({"x": torch.tensor(X4).float().numpy(), "x @ x": (torch.tensor(X4) @ torch.tensor(X4))
                            .float().numpy()}, run_dir / "plots" / "matrices.png")
        return {"operations": len(rows), "values": values}


TENSOR_BASICS = TensorBasics()
