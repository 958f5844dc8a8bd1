"""The scoped caching allocator (tinygrad_bn.memory.scope, kernels/alloc.pyx).

Arrays allocated inside a scope come from the cache and are reused; outside they use
NumPy's default handler; values survive reuse, calloc zeroes, realloc keeps the data;
threads and forks are safe; and a training step without glibc tuning takes no page
faults once warm (counted with getrusage, in a fresh process, against the same step with
the cache turned off).
"""
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from tinygrad_bn import memory

pytestmark = pytest.mark.skipif(memory._alloc is None, reason="the allocator cache is off or not built")

get_handler_name = getattr(np, "get_handler_name", None) or np._core.multiarray.get_handler_name
BIG = (256, 1024)           # 1 MiB of float32: above the 128 KiB the cache keeps


def _addr(a):
    return a.__array_interface__["data"][0]


def test_only_arrays_made_inside_a_scope_use_the_cache():
    outside = np.empty(BIG, np.float32)
    with memory.scope():
        inside = np.empty(BIG, np.float32)
        with memory.scope():                # nests
            nested = np.ones(3)
        after_nested = np.empty(10)
    later = np.empty(BIG, np.float32)
    assert get_handler_name(inside) == "tinygrad_bn_cache"
    assert get_handler_name(nested) == "tinygrad_bn_cache"
    assert get_handler_name(after_nested) == "tinygrad_bn_cache"
    assert get_handler_name(outside) != "tinygrad_bn_cache"
    assert get_handler_name(later) != "tinygrad_bn_cache"


def test_a_freed_block_is_reused_for_the_same_size_and_values_are_fresh():
    memory.release()
    with memory.scope():
        a = np.full(BIG, 3.0, np.float32)
        addr = _addr(a)
        del a
        hits = memory.cache_stats()["hits"]
        b = np.full(BIG, 5.0, np.float32)
        assert _addr(b) == addr
        assert memory.cache_stats()["hits"] == hits + 1
        assert (b == 5.0).all()
        del b
        z = np.zeros(BIG, np.float32)       # calloc: a reused block is zeroed
        assert _addr(z) == addr and not z.any()
        other = np.empty((BIG[0] + 1, BIG[1]), np.float32)   # another size: not that block
        assert _addr(other) != addr


def test_small_arrays_are_not_cached():
    memory.release()
    with memory.scope():
        a = np.ones(100)
        del a
    assert memory.cache_stats()["cached_blocks"] == 0


def test_realloc_keeps_the_data():
    with memory.scope():
        a = np.arange(300000, dtype=np.float64)
        a.resize(400000, refcheck=False)
        assert (a[:300000] == np.arange(300000)).all() and (a[300000:] == 0).all()
        a.resize(1000, refcheck=False)
        assert (a == np.arange(1000)).all()


def test_limit_and_release():
    old = memory.set_cache_limit(0)
    try:
        with memory.scope():
            a = np.ones(BIG)
            del a
        assert memory.cache_stats()["cached_bytes"] == 0
    finally:
        memory.set_cache_limit(old)
    with memory.scope():
        a = np.ones(BIG)
        del a
    assert memory.cache_stats()["cached_bytes"] >= int(np.prod(BIG)) * 8
    assert memory.release() > 0 and memory.cache_stats()["cached_bytes"] == 0
    with pytest.raises(ValueError, match="set_cache_limit"):
        memory.set_cache_limit(-1)


def test_a_scope_is_per_thread_and_blocks_cross_threads():
    seen = {}
    made = []

    def other():
        seen["other"] = get_handler_name(np.empty(BIG))
        made.append(np.full(BIG, 7.0))      # made here (default handler), freed in the main thread

    with memory.scope():
        t = threading.Thread(target=other)
        t.start()
        t.join()
        mine = np.full(BIG, 2.0)
    assert seen["other"] != "tinygrad_bn_cache"
    assert (made.pop() == 7.0).all()

    def free_elsewhere(arr):
        assert (arr == 2.0).all()

    t = threading.Thread(target=free_elsewhere, args=(mine,))
    del mine                                # the last reference dies in the thread
    t.start()
    t.join()


def test_many_threads_allocating_and_freeing_in_scopes():
    errors = []

    def work(k):
        try:
            rng = np.random.default_rng(k)
            with memory.scope():
                for i in range(200):
                    n = int(rng.integers(1, 6)) * 40000
                    a = np.full(n, float(k))
                    b = a * 2
                    if not (b == 2.0 * k).all():
                        errors.append((k, i))
        except Exception as exc:             # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_a_forked_child_can_allocate():
    with memory.scope():
        a = np.ones(BIG)
        del a
    pid = os.fork()
    if pid == 0:                             # child: allocate and free through the cache
        try:
            with memory.scope():
                b = np.full(BIG, 1.5)
                ok = (b == 1.5).all()
                del b
            os._exit(0 if ok else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0


FAULTS = textwrap.dedent("""
    import resource, numpy as np
    import tinygrad_bn as tg
    from tinygrad_bn.keras import BatchNormalization, Dense, ReLU, Sequential
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2048, 64), dtype=np.float32)
    y = rng.integers(0, 10, 2048)
    model = Sequential([Dense(256), BatchNormalization(), ReLU(), Dense(128), BatchNormalization(), ReLU(),
                        Dense(10)])
    opt = tg.optimizers.Adam(1e-3)
    loss_fn = tg.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=opt, loss=loss_fn)
    model.build((None, 64))
    tvars = model.trainable_variables

    def tape_step():                          # the TF2 custom loop
        with tg.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        opt.apply_gradients(zip(tape.gradient(loss, tvars), tvars))

    step = tape_step if KIND == "tape" else (lambda: model.train_on_batch(x, y))
    for _ in range(5):
        step()
    r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        step()
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0) / 10)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="minor-fault counts are read on Linux")
@pytest.mark.parametrize("kind", ["tape", "train_on_batch"])
def test_a_warm_training_step_takes_no_page_faults_without_glibc_tuning(kind):
    def faults(cache):
        env = dict(os.environ, TINYGRAD_BN_MALLOC_TUNING="0", TINYGRAD_BN_ALLOC_CACHE=cache,
                   OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"):
            env.pop(k, None)
        out = subprocess.run([sys.executable, "-c", f"KIND = {kind!r}\n" + FAULTS], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        return float(out.stdout.split()[-1])

    with_cache, without = faults("1"), faults("0")
    assert with_cache < 20, (with_cache, without)
    assert without > 200, (with_cache, without)        # what the cache saves: glibc faults pages back in


HVP = textwrap.dedent("""
    import tinygrad_bn as tg
    from tinygrad_bn import memory
    from tinygrad_bn.benchmarks.core import hvp_ours
    hvp = hvp_ours()              # the bench's tanh MLP at batch 64: (256, 128) weights, 128 KiB
    for _ in range(150):          # two gradient() calls a step: inner and outer tape
        hvp()
    s = memory.cache_stats()
    print(s["hits"], s["misses"])
""")


def test_an_hvp_loop_turns_the_cache_on():
    # The engine checks one gradient() call in 61 for arrays of 128 KiB or more. It used to
    # check one in 64: an HVP loop makes two calls a step, so only the inner tape (whose
    # outputs are all smaller) was ever looked at and the cache never came on.
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.pop("TINYGRAD_BN_ALLOC_CACHE", None)
    out = subprocess.run([sys.executable, "-c", HVP], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    hits, misses = map(int, out.stdout.split()[-2:])
    assert hits > 500 and misses < hits / 10, (hits, misses)
