"""Search spaces: the course's scales, reproducibility, validation."""
import math

import numpy as np
import pytest

from tinygrad_bn.tune import Choice, IntUniform, LogUniform, OneMinusLogUniform, Space, Uniform
from tinygrad_bn.tune.space import dimension_from_dict

N = 10_000


def _samples(dim, n=N, seed=0):
    rng = np.random.default_rng(seed)
    return np.array([dim.sample(rng) for _ in range(n)])


def _tolerance(p, n=N, sigmas=4.5):
    return sigmas * math.sqrt(p * (1 - p) / n)


def test_log_uniform_a_quarter_per_decade():
    x = _samples(LogUniform(1e-4, 1))
    assert x.min() >= 1e-4 and x.max() <= 1
    counts, _ = np.histogram(np.log10(x), bins=[-4, -3, -2, -1, 0])
    frac = counts / N
    assert np.all(np.abs(frac - 0.25) < _tolerance(0.25)), frac
    # the linear scale would put 90% in the top decade; the log scale puts a quarter there
    assert abs(np.mean(x >= 0.1) - 0.25) < _tolerance(0.25)


def test_log_uniform_is_the_course_recipe():
    # r uniform in [log10 low, log10 high], value 10**r: the course's r = -4 * rand() recipe
    dim = LogUniform(1e-4, 1)
    for seed in range(20):
        u = np.random.default_rng(seed).random()
        assert math.isclose(dim.sample(np.random.default_rng(seed)), 10 ** (-4 + 4 * u), rel_tol=1e-12)
    beta = OneMinusLogUniform(0.9, 0.999)
    for seed in range(20):
        u = np.random.default_rng(seed).random()
        assert math.isclose(beta.sample(np.random.default_rng(seed)), 1 - 10 ** (-3 + 2 * u), rel_tol=1e-12)


def test_one_minus_log_uniform_half_per_decade_of_one_minus_beta():
    x = _samples(OneMinusLogUniform(0.9, 0.999))
    assert x.min() >= 0.9 and x.max() <= 0.999
    lower = np.mean((x >= 0.9) & (x < 0.99))
    upper = np.mean((x >= 0.99) & (x < 0.999))
    assert abs(lower - 0.5) < _tolerance(0.5), lower
    assert abs(upper - 0.5) < _tolerance(0.5), upper
    assert abs(lower + upper - 1.0) < 1e-3
    # a plain uniform would put only 10% in [0.99, 0.999)
    u = _samples(Uniform(0.9, 0.999))
    assert np.mean(u >= 0.99) < 0.12


def test_int_uniform_linear_and_log():
    x = _samples(IntUniform(1, 4))
    assert set(np.unique(x)) == {1, 2, 3, 4}
    assert np.all(np.abs(np.bincount(x.astype(int))[1:] / N - 0.25) < _tolerance(0.25))
    y = _samples(IntUniform(10, 10_000, log=True))
    assert y.dtype.kind == "i" and y.min() >= 10 and y.max() <= 10_000
    counts, _ = np.histogram(np.log10(y), bins=[1, 2, 3, 4.0001])
    assert np.all(np.abs(counts / N - 1 / 3) < 0.03), counts / N


def test_choice_uniform_over_options():
    x = [Choice(["a", "b", True, None]).sample(np.random.default_rng(i)) for i in range(4000)]
    for o in ["a", "b", True, None]:
        assert abs(sum(1 for v in x if v is o or v == o and type(v) is type(o)) / 4000 - 0.25) < 0.04


def test_seed_makes_the_sequence_reproducible():
    space = Space({"lr": LogUniform(1e-4, 1), "beta": OneMinusLogUniform(0.9, 0.999),
                   "units": IntUniform(8, 512, log=True), "bn": Choice([True, False])})
    a = [space.sample(seed=7, round=0, index=i) for i in range(50)]
    b = [space.sample(seed=7, round=0, index=i) for i in range(50)]
    c = [space.sample(seed=8, round=0, index=i) for i in range(50)]
    d = [space.sample(seed=7, round=1, index=i) for i in range(50)]
    assert a == b
    assert a != c and a != d
    # trial i depends on (seed, round, i) only: any order gives the same parameters
    assert [space.sample(7, 0, i) for i in reversed(range(50))][::-1] == a
    for p in a:
        assert type(p["units"]) is int and type(p["lr"]) is float and type(p["bn"]) is bool


@pytest.mark.parametrize("make, msg", [
    (lambda: Uniform(1, 1), "low < high"),
    (lambda: Uniform(2, 1), "low < high"),
    (lambda: Uniform(0, float("inf")), "finite"),
    (lambda: LogUniform(0, 1), "> 0"),
    (lambda: LogUniform(-1, 1), "> 0"),
    (lambda: LogUniform(1, 1e-4), "low < high"),
    (lambda: OneMinusLogUniform(0.9, 1.0), "0 <= low < high < 1"),
    (lambda: OneMinusLogUniform(-0.1, 0.9), "0 <= low < high < 1"),
    (lambda: OneMinusLogUniform(0.999, 0.9), "low < high"),
    (lambda: IntUniform(5, 5), "low < high"),
    (lambda: IntUniform(0, 10, log=True), "> 0"),
    (lambda: Choice([]), "at least one"),
    (lambda: Choice([1, 1]), "duplicate"),
])
def test_bad_ranges_raise_clear_errors(make, msg):
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        make()


@pytest.mark.parametrize("make", [lambda: IntUniform(1.5, 3), lambda: Uniform("a", 2),
                                  lambda: Choice([object()]), lambda: Choice("abc"),
                                  lambda: Space({"x": 3}), lambda: Space([])])
def test_bad_types_raise(make):
    with pytest.raises(TypeError):
        make()


def test_space_json_round_trip():
    space = Space({"lr": LogUniform(1e-4, 1), "beta": OneMinusLogUniform(0.9, 0.999),
                   "units": IntUniform(8, 512, log=True), "bn": Choice([True, False]),
                   "drop": Uniform(0, 0.5)})
    assert Space.from_json(space.to_json()) == space
    for dim in space.dims.values():
        assert dimension_from_dict(dim.to_dict()) == dim


def test_zoom_narrows_on_each_dimensions_own_scale():
    lr = LogUniform(1e-4, 1)
    z = lr.zoom([1e-3, 1e-2], margin=0.0)
    assert math.isclose(z.low, 1e-3) and math.isclose(z.high, 1e-2)
    z = lr.zoom([1e-3, 1e-2], margin=0.25)  # a quarter of 4 decades = one decade each side
    assert math.isclose(z.low, 1e-4) and math.isclose(z.high, 1e-1)
    beta = OneMinusLogUniform(0.9, 0.9999)
    z = beta.zoom([0.99, 0.999], margin=0.0)
    assert math.isclose(z.low, 0.99) and math.isclose(z.high, 0.999)
    units = IntUniform(1, 1000, log=True)
    z = units.zoom([10, 100], margin=0.0)
    assert (z.low, z.high) == (10, 100)
    assert Choice(["a", "b", "c"]).zoom(["c", "a"], 0.1).options == ["a", "c"]
    assert IntUniform(1, 10).zoom([4, 4], 0.0).options == [4]


def test_one_minus_log_uniform_from_zero_is_the_course_recipe():
    # the course: r = -4 * np.random.rand(); beta = 1 - 10**r, so r in [-4, 0], beta in [0, 0.9999]
    beta = OneMinusLogUniform(0.0, 0.9999)
    lo, hi = beta.bounds_internal()
    assert math.isclose(lo, -4.0, abs_tol=1e-9) and hi == 0.0
    for seed in range(20):
        u = np.random.default_rng(seed).random()
        assert math.isclose(beta.sample(np.random.default_rng(seed)), 1 - 10 ** (-4 + 4 * u),
                            rel_tol=1e-9, abs_tol=1e-12)
    x = _samples(beta)
    assert x.min() >= 0.0 and x.max() <= 0.9999
    # each decade of 1 - beta gets a quarter: [0, .9), [.9, .99), [.99, .999), [.999, .9999]
    counts, _ = np.histogram(x, bins=[0.0, 0.9, 0.99, 0.999, 0.9999])
    assert np.all(np.abs(counts / N - 0.25) < _tolerance(0.25)), counts / N
    assert OneMinusLogUniform(0, 0.5).low == 0.0            # an int 0 is fine too


def test_huge_ranges_do_not_overflow():
    dim = Uniform(-1e308, 1e308)
    x = _samples(dim, n=2000)
    assert np.all(np.isfinite(x)) and x.min() >= -1e308 and x.max() <= 1e308
    assert x.min() < -5e307 and x.max() > 5e307                 # the whole range is used
    z = dim.zoom([1e307, 2e307], margin=0.1)                    # pad: a tenth of 2e308 each side
    assert math.isclose(z.low, -1e307) and math.isclose(z.high, 4e307)
    z = dim.zoom([0.0], margin=1.0)
    assert (z.low, z.high) == (-1e308, 1e308)
    top = LogUniform(1e-300, 1.7976931348623157e308)
    y = _samples(top, n=2000)
    assert np.all(np.isfinite(y)) and y.max() <= 1.7976931348623157e308
    s = Space({"u": dim})
    from tinygrad_bn import tune
    study = tune.Study("huge", s)
    study.optimize(lambda t: abs(t["u"]) / 1e308, 10, seed=0)
    assert study.best_value < 1 and math.isfinite(study.zoom(top=3)["u"].high)
