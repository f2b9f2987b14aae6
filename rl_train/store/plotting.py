"""Learning curves of several runs overlaid: one panel per metric, one line per run or per
group of runs (its mean, and a 95% band)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_METRICS = ("rollout/ep_rew_mean", "rollout/success_rate")

# label -> (x, y), or (x, mean, low, high): a group's mean with its 95% band
Series = dict[str, tuple[list[float], ...]]
X_LABELS = {"step": "global step", "time": "training wall time (s)"}


def plot_curves(curves: dict[str, Series], out: Path, x: str = "step"):
    """curves: metric -> label -> points. Writes a PNG and returns the Figure."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed, works over ssh and in CI
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(curves), 1, figsize=(8, 3.2 * len(curves)), squeeze=False, sharex=True
    )
    for ax, (metric, runs) in zip(axes[:, 0], curves.items(), strict=True):
        for label, points in runs.items():
            (line,) = ax.plot(points[0], points[1], label=label, linewidth=1.5)
            if len(points) == 4:
                ax.fill_between(points[0], points[2], points[3], color=line.get_color(), alpha=0.2)
        ax.set_title(metric)
        ax.set_ylabel(metric.rsplit("/", 1)[-1])
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", loc="best")
    axes[-1, 0].set_xlabel(X_LABELS[x])
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return fig
