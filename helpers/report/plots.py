"""The figures: accuracy per epoch, accuracy against trainable parameters, weight-file sizes,
training loss per step. Shared by the notebooks (shown inline) and the report (saved as PNG)."""
from __future__ import annotations

from pathlib import Path

from helpers.study.runs import EXTENSIONS, RUNS


def accuracy_per_epoch(ax, records) -> None:
    for record in records:
        curve = record["val_accuracy"]
        ax.plot(range(len(curve)), [100 * a for a in curve], marker="o", markersize=3, label=record["label"])
    ax.set_xlabel("epoch (0 = before training)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title("Validation accuracy per epoch")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)


def accuracy_vs_parameters(ax, records, beyond=()) -> None:
    """The ten runs as dots, notebook 06's extensions (if any) as hollow squares."""
    for record in beyond:
        ax.scatter(record["trainable_params"], 100 * record["max_val_accuracy"], s=30, marker="s",
                   facecolors="none", edgecolors="tab:gray")
        ax.annotate(record["label"], (record["trainable_params"], 100 * record["max_val_accuracy"]),
                    fontsize=6, color="tab:gray", xytext=(4, -7), textcoords="offset points")
    for record in records:
        ax.scatter(record["trainable_params"], 100 * record["max_val_accuracy"], s=30)
        ax.annotate(record["label"], (record["trainable_params"], 100 * record["max_val_accuracy"]),
                    fontsize=6, xytext=(4, 2), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters (log scale)")
    ax.set_ylabel("max validation accuracy (%)")
    ax.set_title("Accuracy against trainable parameters")
    ax.grid(alpha=0.3, which="both")


def loss_per_step(ax, records) -> None:
    """Training loss of every step (the first seed's), smoothed over a window so the trend shows."""
    for record in records:
        losses = record["per_seed"][0].get("step_loss") or []
        window = max(1, len(losses) // 50)
        smooth = [sum(losses[i:i + window]) / len(losses[i:i + window]) for i in range(0, len(losses), window)]
        ax.plot([i + window / 2 for i in range(0, len(losses), window)], smooth, label=record["label"])
    ax.set_xlabel("training step")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    ax.set_title("Training loss per step")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)


def weight_sizes(ax, rows: list[tuple[str, int]]) -> None:
    """rows: (label, bytes), full model first."""
    labels = [label for label, _ in rows]
    sizes = [max(size, 1) / 1024 for _, size in rows]
    bars = ax.barh(labels, sizes, color=["tab:gray"] + ["tab:blue"] * (len(rows) - 1))
    ax.set_xscale("log")
    ax.set_xlim(right=max(sizes) * 4)   # room for the value printed after the longest bar
    ax.invert_yaxis()
    ax.set_xlabel("KiB (log scale)")
    ax.set_title("Saved weights against the full model")
    for bar, size in zip(bars, sizes):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {size:,.1f}", va="center", fontsize=6)
    ax.tick_params(axis="y", labelsize=7)


def make_figures(records, folder: Path) -> dict[str, Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = [records[r.run_id] for r in RUNS if r.run_id in records]
    beyond = [records[r.run_id] for r in EXTENSIONS if r.run_id in records]
    figures = {}
    if not ordered and not beyond:
        return figures
    drawings = [("accuracy_per_epoch", lambda ax: accuracy_per_epoch(ax, ordered), (8, 4.2)),
                ("accuracy_vs_parameters", lambda ax: accuracy_vs_parameters(ax, ordered, beyond), (8, 4.2))]
    if beyond:
        drawings.append(("accuracy_per_epoch_beyond", lambda ax: accuracy_per_epoch(ax, beyond), (8, 4.2)))
    for name, draw, size in drawings:
        fig, ax = plt.subplots(figsize=size)
        draw(ax)
        fig.tight_layout()
        figures[name] = folder / f"{name}.png"
        fig.savefig(figures[name], dpi=160)
        plt.close(fig)
    full = records.get("full_ft")
    sizes = [(r["label"], r["weights_bytes"]) for r in ordered if r.get("weights_bytes")]
    if full and sizes:
        # The full model's checkpoint would hold every parameter in fp32: 4 bytes each.
        rows = [(f"{full['label']}: all {full['total_params']:,} parameters x 4 bytes", 4 * full["total_params"])] + sizes
        fig, ax = plt.subplots(figsize=(8, 4.2))
        weight_sizes(ax, rows)
        fig.tight_layout()
        figures["weight_sizes"] = folder / "weight_sizes.png"
        fig.savefig(figures["weight_sizes"], dpi=160)
        plt.close(fig)
    return figures
