"""Small real data sets for examples and tests.

``load_digits`` needs scikit-learn (the ``demo`` extra:
``pip install "tinygrad_bn[demo]"``); the data ships inside scikit-learn, so
no download happens.
"""
import numpy as np

__all__ = ["load_digits"]


def load_digits(test_size=0.2, seed=0):
    """scikit-learn's 8x8 handwritten digits (1797 images, 10 classes), split and standardised.

    Returns ``(x_train, y_train), (x_test, y_test)``: ``x`` float32 of shape
    (n, 64), standardised per pixel with the *training* mean and standard
    deviation (constant pixels are left at 0); ``y`` int64 labels 0-9.  The
    split is stratified by class and reproducible from ``seed``.
    """
    if isinstance(test_size, (bool, np.bool_)) or not isinstance(test_size, (int, float, np.integer, np.floating)):
        raise TypeError(f"load_digits: test_size must be a fraction in (0, 1), got {type(test_size).__name__} "
                        f"{test_size!r}")
    if not 0.0 < float(test_size) < 1.0:
        raise ValueError(f"load_digits: test_size must be in (0, 1), got {test_size}")
    if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"load_digits: seed must be an integer or None, got {type(seed).__name__} {seed!r}")
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError:
        raise ImportError("tinygrad_bn.datasets.load_digits needs scikit-learn, an optional extra: "
                          'pip install "tinygrad_bn[demo]"  (or: pip install scikit-learn)') from None
    data = _sk_load_digits()
    x = np.asarray(data.data, dtype=np.float64)
    y = np.asarray(data.target, dtype=np.int64)
    rng = np.random.default_rng(seed)
    test_idx = []
    for c in np.unique(y):  # stratified split, without needing sklearn.model_selection
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        test_idx.append(idx[:int(round(len(idx) * float(test_size)))])
    test_idx = np.sort(np.concatenate(test_idx))
    mask = np.ones(len(y), dtype=bool)
    mask[test_idx] = False
    train_idx = rng.permutation(np.flatnonzero(mask))
    test_idx = rng.permutation(test_idx)
    x_train, x_test = x[train_idx], x[test_idx]
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0
    x_train = ((x_train - mean) / std).astype(np.float32)
    x_test = ((x_test - mean) / std).astype(np.float32)
    return (x_train, y[train_idx]), (x_test, y[test_idx])
