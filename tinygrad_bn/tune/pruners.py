"""Early stopping of bad trials over epochs: successive halving, Hyperband, median.

A trial reports ``trial.report(value, epoch)`` after each epoch (``epoch`` = epochs done,
1, 2, ...) and asks ``trial.should_prune()``.  The pruner compares the trial with the
*peers* -- the intermediate values of trials that had finished when this one was handed
out -- so the decision needs nothing but data that travelled with the trial: it works
the same in a process pool or on a cluster.

Successive halving (asynchronous, as in ASHA): rungs sit at epochs ``min_resource *
eta**k``.  A trial reaching a rung continues only if its value there is in the best
``1/eta`` of all values recorded at that rung; otherwise it is pruned.  Hyperband runs
several such brackets with different first rungs (more or less aggressive) and deals
trials to brackets in turn, hedging against a curve that starts slow and ends well.
"""
import math
import numbers

__all__ = ["Pruner", "SuccessiveHalvingPruner", "HyperbandPruner", "MedianPruner", "get_pruner"]


def _int_arg(owner, name, value, low, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{owner}: {name} must be an int >= {low}"
                         f"{' or None' if allow_none else ''}, got {value!r}")
    return int(value)


def _better(a, b, direction):
    return a < b if direction == "minimize" else a > b


class Pruner:
    """Base class.  ``should_prune(index, values, peers, direction)``: ``values`` is this
    trial's ``{epoch: value}``, ``peers`` a list of ``(index, {epoch: value})``."""

    def should_prune(self, index, values, peers, direction):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class SuccessiveHalvingPruner(Pruner):
    """Asynchronous successive halving.

    min_resource: epoch of the first rung.  reduction_factor (eta): keep the best 1/eta
    at each rung.  min_early_stopping_rate: skip the first rungs (Hyperband's brackets).
    min_peers: no pruning at a rung until this many other trials have reached it
    (default eta), so the first trials are never judged against nothing.
    max_resource: the last epoch, if known (no rung there: stopping saves nothing).
    """

    def __init__(self, min_resource=1, reduction_factor=3, min_early_stopping_rate=0,
                 min_peers=None, max_resource=None):
        who = "SuccessiveHalvingPruner"
        min_resource = _int_arg(who, "min_resource", min_resource, 1)
        reduction_factor = _int_arg(who, "reduction_factor", reduction_factor, 2)
        min_early_stopping_rate = _int_arg(who, "min_early_stopping_rate", min_early_stopping_rate, 0)
        min_peers = _int_arg(who, "min_peers", min_peers, 0, allow_none=True)
        max_resource = _int_arg(who, "max_resource", max_resource, min_resource, allow_none=True)
        self.min_resource = min_resource
        self.reduction_factor = reduction_factor
        self.min_early_stopping_rate = min_early_stopping_rate
        self.min_peers = reduction_factor if min_peers is None else min_peers
        self.max_resource = max_resource

    def rung_of(self, epoch):
        """The rung number if ``epoch`` is a rung epoch, else None."""
        if self.max_resource is not None and epoch >= self.max_resource:
            return None  # the last epoch: stopping now saves nothing
        r = epoch / self.min_resource
        if r < 1 or r != int(r):
            return None
        k = round(math.log(r, self.reduction_factor))
        if self.min_resource * self.reduction_factor ** k != epoch:
            return None
        return k if k >= self.min_early_stopping_rate else None

    def should_prune(self, index, values, peers, direction):
        if not values:
            return False
        epoch = max(values)
        if self.rung_of(epoch) is None:
            return False
        mine = values[epoch]
        if mine is None or mine != mine:
            return True
        others = [d[epoch] for _, d in peers if epoch in d and d[epoch] is not None]
        if len(others) < self.min_peers:
            return False
        keep = max(1, (len(others) + 1) // self.reduction_factor)
        n_better = sum(1 for v in others if _better(v, mine, direction))
        return n_better >= keep


class HyperbandPruner(Pruner):
    """Hyperband: ``n`` successive-halving brackets, from aggressive (first rung at
    ``min_resource``) to none (first rung at ``max_resource``).  Trial ``index`` goes to
    bracket ``index % n`` and is compared only with trials of its bracket."""

    def __init__(self, min_resource=1, max_resource=27, reduction_factor=3, min_peers=None):
        who = "HyperbandPruner"
        min_resource = _int_arg(who, "min_resource", min_resource, 1)
        reduction_factor = _int_arg(who, "reduction_factor", reduction_factor, 2)
        if isinstance(max_resource, bool) or not isinstance(max_resource, numbers.Integral) \
                or max_resource < min_resource:
            raise ValueError(f"{who}: max_resource must be an int >= min_resource "
                             f"({min_resource}), got {max_resource!r}")
        max_resource = int(max_resource)
        min_peers = _int_arg(who, "min_peers", min_peers, 0, allow_none=True)
        self.min_resource, self.max_resource = min_resource, max_resource
        self.reduction_factor = reduction_factor
        n = int(math.floor(math.log(max_resource / min_resource, reduction_factor) + 1e-9)) + 1
        self.n_brackets = n
        self._brackets = [SuccessiveHalvingPruner(min_resource, reduction_factor, s, min_peers,
                                                  max_resource) for s in range(n)]

    def bracket_of(self, index):
        return index % self.n_brackets

    def should_prune(self, index, values, peers, direction):
        b = self.bracket_of(index)
        same = [(i, d) for i, d in peers if self.bracket_of(i) == b]
        return self._brackets[b].should_prune(index, values, same, direction)

    def __repr__(self):
        return (f"HyperbandPruner(min_resource={self.min_resource}, max_resource="
                f"{self.max_resource}, reduction_factor={self.reduction_factor})")


class MedianPruner(Pruner):
    """Prune when the trial is worse than the median of its peers at the same epoch,
    after ``warmup_epochs`` epochs and once ``min_peers`` peers have reached that epoch."""

    def __init__(self, warmup_epochs=1, min_peers=3):
        self.warmup_epochs = _int_arg("MedianPruner", "warmup_epochs", warmup_epochs, 0)
        self.min_peers = _int_arg("MedianPruner", "min_peers", min_peers, 1)

    def should_prune(self, index, values, peers, direction):
        if not values:
            return False
        epoch = max(values)
        if epoch < self.warmup_epochs:
            return False
        mine = values[epoch]
        if mine is None or mine != mine:
            return True
        others = sorted(d[epoch] for _, d in peers if epoch in d and d[epoch] is not None)
        if len(others) < self.min_peers:
            return False
        n = len(others)
        median = others[n // 2] if n % 2 else 0.5 * (others[n // 2 - 1] + others[n // 2])
        return _better(median, mine, direction)


def get_pruner(spec, max_resource=None):
    """None/'none' -> None; 'sh'/'successive_halving'; 'hyperband'; 'median'; or a Pruner."""
    if spec is None or isinstance(spec, Pruner):
        return spec
    s = str(spec).lower()
    if s in ("none", "off", ""):
        return None
    if s in ("sh", "successive_halving", "asha"):
        return SuccessiveHalvingPruner()
    if s == "hyperband":
        return HyperbandPruner(max_resource=max_resource or 27)
    if s == "median":
        return MedianPruner()
    raise ValueError(f"unknown pruner {spec!r}: use none, sh, hyperband, median")
