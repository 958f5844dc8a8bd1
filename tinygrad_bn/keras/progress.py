"""Per-epoch progress display for ``fit`` (tqdm when installed, else plain lines).

``verbose=1``: a live bar per epoch with the running loss and metrics (tqdm,
on a terminal; without tqdm, or when output goes to a file or pipe, one line
per epoch); ``verbose=2``: one line per epoch;
``verbose=0``: silent.  The postfix is refreshed at most every 0.1 s so the
display costs almost nothing per batch.
"""
import sys
import time

__all__ = ["EpochProgress", "format_logs"]


def format_logs(logs):
    return " - ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in logs.items())


def _tqdm():
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


class EpochProgress:
    """One epoch's display.  ``update(n_batches_done, logs_fn)`` per batch, ``close(logs)`` at the end."""

    def __init__(self, epoch, epochs, steps, verbose, file=None):
        self.verbose = verbose
        self.file = file if file is not None else sys.stdout
        self.t0 = time.perf_counter()
        self.last = self.t0
        self.steps = steps          # None: unknown (a generator); the count done is shown at the end
        self.done = 0
        self.header = f"Epoch {epoch + 1}/{epochs}"
        self.bar = None
        if verbose == 1 and _is_tty(self.file):
            # A live bar only makes sense on a terminal; logs and pipes get one line per epoch.
            tqdm = _tqdm()
            if tqdm is not None:
                # A fixed-width bar (no dynamic width): the line is "Epoch 3/10 45/45 |####| 00:01, loss: ..."
                self.bar = tqdm(total=steps, desc=self.header, unit="batch", file=self.file, leave=True,
                                mininterval=0.1,
                                bar_format="{desc} {n_fmt}/{total_fmt} |{bar:20}| {elapsed}{postfix}")

    def update(self, done, logs_fn):
        self.done = done
        bar = self.bar
        if bar is None:
            return
        now = time.perf_counter()
        if now - self.last >= 0.1:
            self.last = now
            bar.n = done
            bar.set_postfix_str(format_logs(logs_fn()), refresh=False)
            bar.refresh()

    def close(self, logs):
        elapsed = time.perf_counter() - self.t0
        steps = self.steps if self.steps is not None else self.done
        if self.bar is not None:
            # Replace the live bar by a complete final line (tqdm would cut it at the terminal width).
            self.bar.leave = False
            self.bar.close()
            print(f"{self.header} {steps}/{steps} |{'█' * 20}| {elapsed:.2f}s - {format_logs(logs)}",
                  file=self.file, flush=True)
        elif self.verbose:
            per_step = 1e3 * elapsed / max(1, steps)
            print(f"{self.header} - {steps}/{steps} - {elapsed:.2f}s {per_step:.1f}ms/step - "
                  f"{format_logs(logs)}", file=self.file, flush=True)


def _is_tty(fh):
    """A terminal that reports a usable width (some CI pseudo-terminals report 0 columns)."""
    try:
        if not fh.isatty():
            return False
        import os
        return os.get_terminal_size(fh.fileno()).columns > 0
    except Exception:
        return False
