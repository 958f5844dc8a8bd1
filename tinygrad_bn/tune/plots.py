"""One PNG that shows a study (matplotlib, an optional extra).

Row 1: the objective against each parameter, on the parameter's own scale (log axes for
learning rates and log-scaled integers; ``1 - beta`` decades for averaging betas, labelled
in beta), coloured by zoom round, pruned trials hollow, failed trials as red ticks on top.
Row 2: the zoom rounds -- the range each round sampled, on the same axes as row 1.
Row 3: every trial's learning curve (pruned ones dashed, the best in red) and the best
value so far against the trial number.

The figure is drawn without pyplot (no global backend state) and written atomically
(temporary file, then ``os.replace``).
"""
import math
import os

import numpy as np

__all__ = ["plot_study"]

ROUND_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
                "#17becf", "#bcbd22"]


def _mpl():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib import ticker
    except ImportError as e:
        raise ImportError("plots need matplotlib: pip install tinygrad_bn[tune]") from e
    return Figure, FigureCanvasAgg, ticker


def _beta_scale(ax, dim, ticker, axis="x"):
    """Axis spaced by decades of 1 - beta, labelled with beta."""
    def fwd(b):
        return -np.log10(np.clip(1.0 - np.asarray(b, dtype=float), 1e-12, None))

    def inv(y):
        return 1.0 - 10.0 ** (-np.asarray(y, dtype=float))

    getattr(ax, f"set_{axis}scale")("function", functions=(fwd, inv))
    lo_d = math.floor(-math.log10(1 - dim.low))
    hi_d = math.ceil(-math.log10(1 - dim.high))
    major = [1 - 10.0 ** -k for k in range(max(lo_d, 1), hi_d + 1)]
    minor = [1 - m * 10.0 ** -k for k in range(max(lo_d, 1), hi_d + 1) for m in (2, 3, 5)]
    ax_obj = ax.xaxis if axis == "x" else ax.yaxis
    ax_obj.set_major_locator(ticker.FixedLocator(major))
    ax_obj.set_minor_locator(ticker.FixedLocator(minor))
    ax_obj.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:.6g}"))
    ax_obj.set_minor_formatter(ticker.NullFormatter())


def _set_param_axis(ax, dim, ticker, label):
    from .space import Choice, IntUniform, LogUniform, OneMinusLogUniform
    if isinstance(dim, LogUniform) or (isinstance(dim, IntUniform) and dim.log):
        ax.set_xscale("log")
        if isinstance(dim, IntUniform):
            ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xlim(dim.low / 1.25, dim.high * 1.25)
        scale = "log scale"
    elif isinstance(dim, OneMinusLogUniform):
        _beta_scale(ax, dim, ticker)
        lo, hi = dim.low, dim.high
        span = math.log10(1 - lo) - math.log10(1 - hi)
        ax.set_xlim(1 - (1 - lo) * 10 ** (0.05 * span), 1 - (1 - hi) / 10 ** (0.05 * span))
        scale = "log(1 - beta) scale"
    elif isinstance(dim, Choice):
        ax.set_xticks(range(len(dim.options)))
        ax.set_xticklabels([str(o) for o in dim.options])
        ax.set_xlim(-0.6, len(dim.options) - 0.4)
        scale = "choice"
    else:
        pad = 0.04 * (dim.high - dim.low)
        ax.set_xlim(dim.low - pad, dim.high + pad)
        scale = "linear"
    ax.set_xlabel(f"{label}  ({scale})", fontsize=9)


def _x_of(dim, value, jitter_rng=None):
    from .space import Choice
    if isinstance(dim, Choice):
        x = float(dim.options.index(value)) if dim.contains(value) else float("nan")
        if jitter_rng is not None:
            x += jitter_rng.uniform(-0.18, 0.18)
        return x
    return float(value)


def _value_scale(ax, values, axis="y"):
    pos = [v for v in values if v is not None and v > 0]
    if pos and len(pos) == len(values) and max(pos) / min(pos) > 50:
        getattr(ax, f"set_{axis}scale")("log")


def plot_study(study, path, title=None, dpi=110):
    """Write the overview PNG of ``study`` to ``path`` (atomically).  Returns ``path``."""
    Figure, FigureCanvasAgg, ticker = _mpl()
    base = study.base_space
    names = base.names()
    trials = study.trials
    rounds = study.rounds()
    n_rounds = len(rounds)
    done = [t for t in trials if t.state == "complete"]
    pruned = [t for t in trials if t.state == "pruned"]
    failed = [t for t in trials if t.state == "failed"]
    best = study.best_trial if done else None
    direction = study.direction

    ncols = max(len(names), 2)
    fig = Figure(figsize=(max(12.0, 3.3 * ncols), 10.5), dpi=dpi)
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(3, ncols, height_ratios=[1.25, 0.55, 1.15], hspace=0.5, wspace=0.3,
                          left=0.06, right=0.985, top=0.9, bottom=0.07)
    rng = np.random.default_rng(0)
    values = [t.value for t in done] + [t.value for t in pruned if t.value is not None]

    # row 1 (objective vs parameter) and row 2 (zoom rounds), one column per parameter
    for j, name in enumerate(names):
        dim = base[name]
        ax = fig.add_subplot(gs[0, j])
        for r in range(n_rounds):
            pts = [t for t in done if t.round == r]
            if pts:
                ax.scatter([_x_of(dim, t.params[name], rng) for t in pts], [t.value for t in pts],
                           s=22, color=ROUND_COLORS[r % len(ROUND_COLORS)], alpha=0.8,
                           edgecolors="none", label=f"round {r}", zorder=3)
        if pruned:
            pv = [t for t in pruned if t.value is not None]
            ax.scatter([_x_of(dim, t.params[name], rng) for t in pv], [t.value for t in pv],
                       s=22, facecolors="none", edgecolors="0.55", linewidths=0.8,
                       label="pruned", zorder=2)
        if failed:
            ax.scatter([_x_of(dim, t.params[name], rng) for t in failed], [0.97] * len(failed),
                       marker="|", s=90, color="#d62728", transform=ax.get_xaxis_transform(),
                       label="failed", zorder=4, clip_on=False)
        if best is not None:
            ax.scatter([_x_of(dim, best.params[name])], [best.value], marker="*", s=230,
                       color="#d62728", edgecolors="k", linewidths=0.6, zorder=5, label="best")
        _set_param_axis(ax, dim, ticker, name)
        _value_scale(ax, values)
        ax.grid(True, which="major", alpha=0.3)
        ax.tick_params(labelsize=8)
        ax.set_title(name, fontsize=11, fontweight="bold")
        if j == 0:
            ax.set_ylabel(f"objective ({direction})", fontsize=9)
        # row 2: the range each round sampled
        ax2 = fig.add_subplot(gs[1, j])
        for r, sp, _ in rounds:
            d = sp[name]
            color = ROUND_COLORS[r % len(ROUND_COLORS)]
            if hasattr(d, "options"):
                xs = [_x_of(dim, o) for o in d.options]
                ax2.scatter(xs, [r] * len(xs), marker="s", s=60, color=color, alpha=0.6)
            else:
                ax2.plot([d.low, d.high], [r, r], lw=7, color=color, alpha=0.55,
                         solid_capstyle="butt")
            pts = [t for t in trials if t.round == r and t.state != "waiting"]
            ax2.scatter([_x_of(dim, t.params[name], rng) for t in pts], [r] * len(pts), s=7,
                        color="k", zorder=3, alpha=0.7)
        _set_param_axis(ax2, dim, ticker, name)
        ax2.set_xlabel("")
        ax2.set_ylim(n_rounds - 0.5, -0.5)
        ax2.set_yticks(range(n_rounds))
        ax2.set_yticklabels([f"round {r}" for r in range(n_rounds)], fontsize=8)
        ax2.tick_params(labelsize=8)
        ax2.grid(True, axis="x", alpha=0.3)
        if j == 0:
            ax2.set_title("zoom rounds: range sampled (bars), trials (dots)", fontsize=9,
                          loc="left")
    first = fig.axes[0]
    handles, labels = first.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper right", ncol=len(labels), fontsize=9,
                   frameon=False, bbox_to_anchor=(0.985, 0.965))

    # row 3: learning curves, and best so far
    half = max(1, ncols // 2 + (ncols % 2))
    axc = fig.add_subplot(gs[2, :half])
    curve_vals = []
    for t in done + pruned:
        if t.intermediate and (best is None or t.number != best.number):
            ep, v = zip(*sorted(t.intermediate.items()))
            v = [np.nan if x is None else x for x in v]
            curve_vals += [x for x in v if x == x]
            if t.state == "pruned":
                axc.plot(ep, v, ls="--", lw=0.8, color="0.6", alpha=0.8)
            else:
                axc.plot(ep, v, lw=1.0, alpha=0.7,
                         color=ROUND_COLORS[t.round % len(ROUND_COLORS)])
    if best is not None and best.intermediate:
        ep, v = zip(*sorted(best.intermediate.items()))
        curve_vals += [x for x in v if x is not None]
        axc.plot(ep, v, lw=2.4, color="#d62728", label=f"best (#{best.number})")
        axc.legend(fontsize=8, frameon=False)
    if not curve_vals:
        axc.text(0.5, 0.5, "no intermediate values reported", ha="center", va="center",
                 transform=axc.transAxes, color="0.4")
    else:
        _value_scale(axc, curve_vals)
        # keep diverged curves from flattening the rest
        lo, hi = np.percentile(curve_vals, [0, 97])
        if hi > lo:
            pad = 0.05 * (hi - lo)
            if axc.get_yscale() == "linear":
                axc.set_ylim(lo - pad, hi + pad)
    axc.set_xlabel("epoch", fontsize=9)
    axc.set_ylabel("reported value", fontsize=9)
    axc.set_title(f"learning curves ({len(done)} complete, {len(pruned)} pruned dashed)",
                  fontsize=10)
    axc.grid(True, alpha=0.3)
    axc.tick_params(labelsize=8)

    axb = fig.add_subplot(gs[2, half:])
    sign = 1.0 if direction == "minimize" else -1.0
    for r in range(n_rounds):
        pts = [t for t in done if t.round == r]
        axb.scatter([t.number for t in pts], [t.value for t in pts], s=16,
                    color=ROUND_COLORS[r % len(ROUND_COLORS)], alpha=0.8, label=f"round {r}")
    if done:
        order = sorted(done, key=lambda t: t.number)
        run, xs, ys = math.inf, [], []
        for t in order:
            run = min(run, sign * t.value)
            xs.append(t.number)
            ys.append(sign * run)
        axb.step(xs, ys, where="post", color="k", lw=1.5, label="best so far")
        axb.legend(fontsize=8, frameon=False)
    _value_scale(axb, values)
    axb.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    axb.set_xlabel("trial number", fontsize=9)
    axb.set_ylabel("objective", fontsize=9)
    axb.set_title("objective by trial, best so far", fontsize=10)
    axb.grid(True, alpha=0.3)
    axb.tick_params(labelsize=8)

    n_fail = f", {len(failed)} failed" if failed else ""
    head = title or f"study {study.name!r}"
    best_txt = (f"best #{best.number}: {best.value:.4g}" if best is not None else "no completed trial")
    fig.suptitle(f"{head} — {len(trials)} trials in {n_rounds} round(s){n_fail}; {best_txt}",
                 fontsize=12, x=0.06, ha="left", y=0.985)
    _atomic_savefig(fig, path)
    return path


def _atomic_savefig(fig, path):
    """savefig through :func:`tinygrad_bn.utils.atomic_write`: a reader never sees a
    half-written PNG, and a crash leaves the previous one intact."""
    from ..utils import atomic_write
    return atomic_write(path, lambda fh: fig.savefig(fh, format="png"))
