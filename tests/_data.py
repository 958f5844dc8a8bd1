"""Small synthetic data shared by the tests."""
import numpy as np


def make_blobs(n, d, c, seed=0):
    """``n`` float32 points in ``d`` dimensions around ``c`` random centres, with int labels."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((c, d)) * 3
    y = rng.integers(0, c, n)
    return (centers[y] + rng.standard_normal((n, d))).astype(np.float32), y
