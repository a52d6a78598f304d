"""The figures: accuracy per epoch, accuracy against trainable parameters, weight-file sizes.
Shared by the notebooks (shown inline) and the report (saved as PNG)."""
from __future__ import annotations


def accuracy_per_epoch(ax, records) -> None:
    for record in records:
        curve = record["val_accuracy"]
        ax.plot(range(len(curve)), [100 * a for a in curve], marker="o", markersize=3, label=record["label"])
    ax.set_xlabel("epoch (0 = before training)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title("Validation accuracy per epoch")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)


def accuracy_vs_parameters(ax, records) -> None:
    for record in records:
        ax.scatter(record["trainable_params"], 100 * record["max_val_accuracy"], s=30)
        ax.annotate(record["label"], (record["trainable_params"], 100 * record["max_val_accuracy"]),
                    fontsize=6, xytext=(4, 2), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters (log scale)")
    ax.set_ylabel("max validation accuracy (%)")
    ax.set_title("Accuracy against trainable parameters")
    ax.grid(alpha=0.3, which="both")


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
