"""cnn-history: the book's chapter 8 architectures (LeNet-5, AlexNet, VGG, Inception v1-v3, ResNet) and their
successors (EfficientNet, ViT, ConvNeXt), measured on the built models (``mlprojects.vision.zoo``).

The chapter describes each network in words and quotes its size; here each is built (by torchvision, LeNet-5
and EfficientNet-Lite0 by this package), its parameters counted and its multiply-adds measured by PyTorch's
FLOP counter, beside the published ImageNet-1k accuracy of its weights (torchvision's metadata, offline)
and the parameter count its paper gave. The report is a table and a plot of top-1 against FLOPs with the
parameters as the bubbles' size; latency on this CPU is measured by benchmarks/bench_zoo.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlprojects.config import ProjectConfig, setting
from mlprojects.project import DemoProject


@dataclass
class HistoryConfig(ProjectConfig):
    architectures: str = setting("all", "comma-separated names (mlprojects zoo lists them), or all")


def _amount(count: float) -> str:
    return f"{count / 1e9:.3f} G" if count >= 1e8 else f"{count / 1e6:.3f} M"


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| architecture | year | parameters | basis | multiply-adds | FLOPs | ImageNet top-1 / top-5 | weights "
             "(MiB) | the paper's parameters |", "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        basis = "as built"
        if row["parameters"] != row["parameters_without_auxiliary"]:
            basis = f"with auxiliary heads; {row['parameters_without_auxiliary']:,} without"
        accuracy = f"{row['top1']:.1f} / {row['top5']:.1f}" if "top1" in row else "—"
        paper = row["paper_parameters"]
        paper = "—" if not paper else f"{paper / 1e6:.1f} M" if paper >= 1e6 else f"{paper:,.0f}"
        lines.append(f"| {row['title']} | {row['year']} | {row['parameters']:,} | {basis} | "
                     f"{_amount(row['multiply_adds'])} | {_amount(row['flops'])} | {accuracy} | "
                     f"{row.get('file_mib', float('nan')):.1f} | {paper} |".replace("| nan |", "| — |"))
    return "\n".join(lines) + "\n"


def bubble_plot(rows: list[dict[str, Any]], out: Path) -> Path:
    from mlprojects.plots import finish, panel

    plt, fig, ax = panel(7.5, 4.5)
    shown = [row for row in rows if "top1" in row]
    for row in shown:
        ax.scatter(row["flops"] / 1e9, row["top1"], s=row["parameters"] / 2e5, alpha=0.5)
        ax.annotate(f"{row['title']} ({row['year']})", (row["flops"] / 1e9, row["top1"]), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
    return finish(plt, fig, ax, out, "accuracy against computation; the bubble's area is the parameters", 9,
                  legend=None, xscale="log", xlabel="GFLOPs per image (PyTorch's FLOP counter)",
                  ylabel="ImageNet-1k top-1 (%)")


class CnnHistory(DemoProject):
    config_class = HistoryConfig
    smoke_settings = {"architectures": "lenet5,alexnet,googlenet"}
    devices = ("cpu",)

    def run(self, run_dir: Path, cfg: HistoryConfig, device=None) -> dict[str, Any]:
        from mlprojects.engine.io import write_text
        from mlprojects.vision import zoo

        names = None if cfg.architectures == "all" else [n.strip() for n in cfg.architectures.split(",") if n.strip()]
        rows = zoo.table(names)
        write_text(run_dir / "report.md", "# The architectures, measured\n\n" + markdown(rows))
        bubble_plot(rows, run_dir / "plots" / "top1_vs_flops.png")
        figures: dict[str, Any] = {"architectures": rows}
        for row in rows:
            figures[f"{row['name']}_parameters"] = row["parameters_without_auxiliary"]
            figures[f"{row['name']}_multiply_adds"] = row["multiply_adds"]
        return figures


CNN_HISTORY = CnnHistory()
