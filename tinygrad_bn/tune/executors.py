"""Where trials run ("caviar"): in the driver, a local process pool, any
``concurrent.futures.Executor``, or a Dask ``distributed.Client``.

Workers are limited to one BLAS/OpenMP thread each (``limit_threads``): two trials on two
cores must not each start two BLAS threads and fight over the cores.
"""
import concurrent.futures as cf
import contextlib
import multiprocessing
import os

from .trial import THREAD_VARS, limit_threads

__all__ = ["process_pool", "resolve_executor", "dask_executor"]


def process_pool(n_jobs, threads_per_worker=1, start_method="spawn"):
    """A process pool whose workers use ``threads_per_worker`` BLAS/OpenMP threads.

    ``spawn`` by default: workers start clean (no copy of the driver's threads, locks or
    SQLite connection), and each gets the thread limits in its environment before it
    imports numpy (see :func:`_thread_env`), then again through threadpoolctl.
    """
    ctx = multiprocessing.get_context(start_method)
    return cf.ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx, initializer=_worker_init,
                                  initargs=(threads_per_worker, os.getpid()))


def _worker_init(threads, parent_pid):
    """Pool worker start-up: cap BLAS threads, and exit if the driver dies.

    A pool worker waits on a pipe whose write end it also holds, so it never sees EOF when
    the driver is killed (``kill -9``); without this watchdog it would wait forever."""
    limit_threads(threads)
    import threading
    import time

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="tune-orphan-watchdog", daemon=True).start()


@contextlib.contextmanager
def _thread_env(n):
    """Temporarily put the thread limits in this process's environment: a pool spawns its
    workers inside ``submit``, and spawned processes inherit the environment."""
    if not n:
        yield
        return
    old = {v: os.environ.get(v) for v in THREAD_VARS}
    for v in THREAD_VARS:
        os.environ[v] = str(n)
    try:
        yield
    finally:
        for v, val in old.items():
            if val is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = val


def _is_dask_client(obj):
    return type(obj).__name__ == "Client" and hasattr(obj, "get_executor") and hasattr(obj, "nthreads")


def dask_executor(client):
    """A ``concurrent.futures`` view of a Dask client (``pure=False``: every trial runs,
    even if two have equal specs)."""
    return client.get_executor(pure=False)


def resolve_executor(executor, n_jobs, threads_per_worker=1):
    """Returns ``(executor or None for serial, owned, slots, env_ctx)``.

    ``slots`` is how many trials to keep in flight.  ``owned`` executors are shut down by
    the study when ``optimize`` returns."""
    if executor is None:
        if n_jobs is None or n_jobs == 1:
            return None, False, 1, None
        if n_jobs == -1:
            n_jobs = os.cpu_count() or 1
        if not isinstance(n_jobs, int) or n_jobs < 1:
            raise ValueError(f"n_jobs must be a positive int or -1, got {n_jobs!r}")
        pool = process_pool(n_jobs, threads_per_worker)
        return pool, True, n_jobs, threads_per_worker
    if _is_dask_client(executor):
        slots = sum(executor.nthreads().values()) or 1
        if n_jobs and n_jobs > 1:
            slots = n_jobs
        return dask_executor(executor), False, slots, None
    if isinstance(executor, str):
        if executor == "process":
            return resolve_executor(None, max(2, n_jobs or 2), threads_per_worker)
        if executor == "serial":
            return None, False, 1, None
        raise ValueError(f"unknown executor {executor!r}: use 'serial', 'process', an "
                         "Executor or a dask.distributed Client")
    if not hasattr(executor, "submit"):
        raise TypeError(f"executor must be a concurrent.futures.Executor or a dask "
                        f"distributed.Client, got {executor!r}")
    slots = getattr(executor, "_max_workers", None) or n_jobs or 1
    if n_jobs and n_jobs > 1:
        slots = n_jobs
    env = threads_per_worker if isinstance(executor, cf.ProcessPoolExecutor) else None
    return executor, False, slots, env


def thread_env(n):
    return _thread_env(n)
