"""Learning curves of several runs overlaid: one panel per metric, one line per run."""

from __future__ import annotations

from pathlib import Path

DEFAULT_METRICS = ("rollout/ep_rew_mean", "rollout/success_rate")

Series = dict[str, tuple[list[int], list[float]]]  # run label -> (steps, values)


def plot_curves(curves: dict[str, Series], out: Path):
    """curves: metric -> run label -> points. Writes a PNG and returns the Figure."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed, works over ssh and in CI
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(curves), 1, figsize=(8, 3.2 * len(curves)), squeeze=False, sharex=True
    )
    for ax, (metric, runs) in zip(axes[:, 0], curves.items(), strict=True):
        for label, (steps, values) in runs.items():
            ax.plot(steps, values, label=label, linewidth=1.5)
        ax.set_title(metric)
        ax.set_ylabel(metric.rsplit("/", 1)[-1])
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", loc="best")
    axes[-1, 0].set_xlabel("global step")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return fig
