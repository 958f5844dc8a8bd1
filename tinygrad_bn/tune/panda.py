"""Panda: babysit one model -- train a few epochs, look at the curve, nudge the learning
rate, roll back to a checkpoint when it went wrong, continue.

    sitter = Babysitter(model, x, y, validation_data=(xv, yv), batch_size=32,
                        checkpoint_dir="ckpt")
    sitter.train(3)                   # 3 epochs; prints one line per epoch
    sitter.checkpoint("good")         # model.save(...) -- weights, optimizer state, step
    sitter.learning_rate *= 3         # bolder
    sitter.train(2)
    sitter.rollback("good")           # that was too bold: back to the checkpoint
    sitter.learning_rate /= 3
    sitter.train(5)
    sitter.plot("panda.png")          # the whole story: curves, lr changes, rollbacks

Built from the training loop (``model.fit(..., initial_epoch=...)``), its callbacks
protocol (``History``) and its checkpoints (``model.save`` / ``load_model``).
"""
import math
import numbers
import os

__all__ = ["Babysitter"]


class Babysitter:
    def __init__(self, model, x, y, validation_data=None, batch_size=32, checkpoint_dir=None,
                 verbose=True):
        self.model = model
        self.x, self.y = x, y
        self.validation_data = validation_data
        self.batch_size = batch_size
        self.checkpoint_dir = checkpoint_dir
        self.verbose = verbose
        self.epoch = 0
        #: one dict per epoch trained (``epoch``, ``lr`` and the training loop's logs);
        #: epochs undone by a rollback stay, marked ``abandoned=True``
        self.log = []
        #: ``(epoch, what)`` notes: learning-rate changes, checkpoints, rollbacks
        self.events = []
        self._checkpoints = {}

    @property
    def learning_rate(self):
        lr = self.model.optimizer.learning_rate
        return float(lr) if not callable(lr) else lr

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"Babysitter.learning_rate must be a number, got {type(value).__name__} {value!r}")
        value = float(value)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"Babysitter.learning_rate must be a finite number > 0, got {value!r}")
        self.model.optimizer.learning_rate = value
        self.events.append((self.epoch, f"lr={value:.3g}"))

    def train(self, epochs=1, **fit_kwargs):
        """Train ``epochs`` more epochs; returns their logs (a list of dicts)."""
        if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
            raise ValueError(f"Babysitter.train: epochs must be an int >= 1, got {epochs!r}")
        fit_kwargs.setdefault("verbose", 0)
        hist = self.model.fit(self.x, self.y, batch_size=self.batch_size,
                              epochs=self.epoch + int(epochs), initial_epoch=self.epoch,
                              validation_data=self.validation_data, **fit_kwargs)
        h = hist.history
        n = len(next(iter(h.values()))) if h else 0
        new = []
        for i in range(n):
            row = {"epoch": self.epoch + i + 1, "lr": self.learning_rate}
            row.update({k: float(v[i]) for k, v in h.items()})
            new.append(row)
            if self.verbose:
                parts = "  ".join(f"{k} {v:.4f}" for k, v in row.items()
                                  if k not in ("epoch", "lr"))
                print(f"epoch {row['epoch']:3d}  lr {row['lr']:.3g}  {parts}")
        self.epoch += n
        self.log.extend(new)
        return new

    def _path(self, tag):
        d = self.checkpoint_dir or "."
        os.makedirs(d, exist_ok=True)
        return os.path.join(d, f"{tag}.npz")

    def checkpoint(self, tag=None):
        """Save the model (weights, optimizer state, step) under ``tag``; returns the path."""
        tag = f"epoch{self.epoch}" if tag is None else tag
        if not isinstance(tag, str) or not tag or tag in (".", "..") or "/" in tag \
                or os.sep in tag or (os.altsep and os.altsep in tag) or "\0" in tag:
            raise ValueError(f"Babysitter.checkpoint: tag must be a non-empty str usable as a file "
                             f"name (no path separators), got {tag!r}")
        path = self._path(tag)
        self.model.save(path)
        self._checkpoints[tag] = (path, self.epoch)
        self.events.append((self.epoch, f"checkpoint {tag}"))
        return path

    def rollback(self, tag):
        """Return to checkpoint ``tag``: the model, its optimizer and the epoch count."""
        from ..keras import load_model
        if tag not in self._checkpoints:
            raise KeyError(f"no checkpoint {tag!r} (have {sorted(self._checkpoints)})")
        path, epoch = self._checkpoints[tag]
        self.model = load_model(path)
        for row in self.log:
            if row["epoch"] > epoch:
                row["abandoned"] = True
        self.events.append((self.epoch, f"rollback to {tag}"))
        self.epoch = epoch
        if self.verbose:
            print(f"rolled back to {tag!r} (epoch {epoch})")
        return self.model

    def plot(self, path, metric="loss"):
        """Training and validation curves over the whole session, lr changes and rollbacks
        annotated, abandoned epochs faded."""
        from .plots import _atomic_savefig, _mpl
        Figure, FigureCanvasAgg, _ = _mpl()
        fig = Figure(figsize=(10, 5), dpi=110)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        # draw the session as segments of consecutive epochs with the same fate; an
        # abandoned branch starts from the epoch it grew from
        segments, cur = [], []
        for row in self.log:
            if cur and (row["epoch"] != cur[-1]["epoch"] + 1
                        or row.get("abandoned", False) != cur[-1].get("abandoned", False)):
                segments.append(cur)
                cur = []
            cur.append(row)
        if cur:
            segments.append(cur)
        kept = {r["epoch"]: r for r in self.log if not r.get("abandoned")}
        values = []
        for seg in segments:
            faded = seg[0].get("abandoned", False)
            start = kept.get(seg[0]["epoch"] - 1)
            rows = ([start] if start is not None else []) + seg
            ep = [r["epoch"] for r in rows]
            for key, color in ((metric, "#1f77b4"), (f"val_{metric}", "#ff7f0e")):
                if key in seg[0]:
                    ys = [r.get(key, float("nan")) for r in rows]
                    values += [v for v in ys if v == v]
                    ax.plot(ep, ys, marker="o", ms=3, color=color, lw=1.0 if faded else 1.8,
                            alpha=0.45 if faded else 1.0, ls="--" if faded else "-",
                            label=f"{key} (abandoned)" if faded else key)
        if values and min(values) > 0 and max(values) / min(values) > 20:
            ax.set_yscale("log")
        notes = {}
        for epoch, what in self.events:
            notes.setdefault(epoch, []).append(what)
        for epoch, whats in notes.items():
            ax.axvline(epoch + 0.5, color="0.6", lw=0.8, ls=":")
            ax.text(epoch + 0.55, 0.98, ", ".join(whats), rotation=90, va="top", fontsize=8,
                    transform=ax.get_xaxis_transform(), color="0.3")
        handles, labels = ax.get_legend_handles_labels()
        uniq = dict(zip(labels, handles))
        ax.legend(uniq.values(), uniq.keys(), frameon=False)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title("babysitting one model (panda): abandoned epochs dashed")
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        _atomic_savefig(fig, path)
        return path
