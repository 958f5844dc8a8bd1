"""``python -m tinygrad_bn tune``: random-search the demo network on digits.

    python -m tinygrad_bn tune --trials 20 --jobs 2 --storage study.db --plot tune.png

Tunes learning rate (log scale), Adam's beta_1 (1 - beta on a log scale), hidden units
(log scale), batch size and batch norm on/off; prints the best trials as a table and
writes the overview plot.  With ``--storage`` the study lives in SQLite: run the same
command again after an interruption and it resumes.
"""
import argparse
import math
import sys
import time

__all__ = ["main", "build_parser"]


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m tinygrad_bn tune",
        description="Random search (coarse to fine, in parallel, resumable) over the demo "
                    "network's hyperparameters on scikit-learn's digits.")
    p.add_argument("--trials", type=int, default=20, help="trials in total (default 20)")
    p.add_argument("--jobs", type=int, default=1,
                   help="parallel worker processes, one BLAS thread each (default 1; -1: all cores)")
    p.add_argument("--storage", default=None,
                   help="SQLite file (or sqlite:///path.db) to keep the study in; re-running "
                        "resumes it (default: in memory)")
    p.add_argument("--name", default="digits", help="study name inside the storage")
    p.add_argument("--plot", default="tune_digits.png",
                   help="PNG overview to write (default tune_digits.png; 'none' to skip)")
    p.add_argument("--seed", type=int, default=0, help="search seed (default 0)")
    p.add_argument("--epochs", type=int, default=10, help="epochs per trial (default 10)")
    p.add_argument("--rounds", type=int, default=1,
                   help="coarse-to-fine rounds; the trials are split between them (default 1)")
    p.add_argument("--top", type=int, default=5,
                   help="zoom each new round around the best TOP trials (default 5)")
    p.add_argument("--pruner", default="none", choices=["none", "sh", "hyperband", "median"],
                   help="stop bad trials early (default none)")
    p.add_argument("--show", type=int, default=10, help="rows of the results table (default 10)")
    p.add_argument("--objective", default="digits", choices=["digits", "bowl"],
                   help="'bowl' is a synthetic log-scale bowl, to try the tool without training")
    p.add_argument("--progress", action="store_true", help="show a progress bar (needs tqdm)")
    return p


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "tune":  # tolerate being handed the sub-command name
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    from . import objectives as obj
    from .pruners import get_pruner
    from .study import Study

    if args.trials < 1 or args.rounds < 1 or args.epochs < 1 or args.top < 1 or args.show < 0:
        print("tune: --trials, --rounds, --epochs and --top must be >= 1, --show >= 0",
              file=sys.stderr)
        return 2
    if args.jobs < 1 and args.jobs != -1:
        print(f"tune: --jobs must be >= 1 or -1 (all cores), got {args.jobs}", file=sys.stderr)
        return 2
    if args.seed < 0:
        print(f"tune: --seed must be >= 0, got {args.seed}", file=sys.stderr)
        return 2
    if args.objective == "digits":
        space, objective = obj.digits_space(), obj.DigitsObjective(epochs=args.epochs)
        max_resource = args.epochs
    else:
        space, objective = obj.log_bowl_space(), obj.fake_training
        max_resource = 9
    pruner = get_pruner(args.pruner, max_resource=max_resource)
    storage = args.storage
    if storage is not None and not storage.startswith("sqlite:") and storage != ":memory:":
        storage = f"sqlite:///{storage}"
    try:
        study = Study(args.name, space, direction="minimize", storage=storage)
    except (ValueError, TypeError, OSError) as e:
        print(f"tune: {e}", file=sys.stderr)
        return 2
    per_round = int(math.ceil(args.trials / args.rounds))
    print(f"tuning {args.objective}: {args.trials} trials ({args.rounds} round(s) of "
          f"{per_round}), {args.jobs} job(s), seed {args.seed}, "
          f"storage {study.storage.path}", flush=True)
    for name, dim in study.base_space.items():
        print(f"  {name:<14} {dim!r}")
    t0 = time.perf_counter()
    kwargs = dict(n_jobs=args.jobs, seed=args.seed, pruner=pruner, show_progress=args.progress)
    try:
        if args.rounds == 1:
            study.optimize(objective, args.trials, **kwargs)
        else:
            study.coarse_to_fine(objective, rounds=args.rounds, trials_per_round=per_round,
                                 top=args.top, **kwargs)
    except KeyboardInterrupt:
        print("\ninterrupted: finished trials are kept"
              + (f"; run the same command again to resume ({study.storage.path})"
                 if args.storage else ""), file=sys.stderr)
        return 130
    elapsed = time.perf_counter() - t0
    trials = study.trials
    counts = {s: sum(t.state == s for t in trials) for s in ("complete", "pruned", "failed")}
    print(f"\n{len(trials)} trials in {elapsed:.1f} s: " +
          ", ".join(f"{n} {s}" for s, n in counts.items() if n) + "\n")
    print(f"best {min(args.show, len(trials))} trials (value = validation loss, lower is better):"
          if args.objective == "digits" else "best trials:")
    print(study.table(args.show))
    if counts["complete"]:
        best = study.best_trial
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in best.params.items())
        print(f"\nbest trial #{best.number}: value {best.value:.4f}  {params}")
    if args.plot and args.plot.lower() != "none":
        try:
            study.plot(args.plot)
        except ImportError as e:
            print(f"(no plot: {e})", file=sys.stderr)
        else:
            print(f"plot written to {args.plot}")
    return 0


def _fmt(v):
    from .table import format_value
    return format_value(v)


if __name__ == "__main__":
    sys.exit(main())
