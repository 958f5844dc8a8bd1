"""tinygrad_bn.data.Dataset: tf.data semantics, with TensorFlow's docstring examples written out."""
import itertools

import numpy as np
import pytest

import tinygrad_bn as tf
from tinygrad_bn.data import (AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset, TensorSpec)


def as_list(ds):
    """Elements as plain Python values (numbers / lists), for comparisons with written-out values."""
    def conv(e):
        if isinstance(e, tuple):
            return tuple(conv(c) for c in e)
        if isinstance(e, dict):
            return {k: conv(v) for k, v in e.items()}
        return np.asarray(e).tolist()
    return [conv(e) for e in ds.as_numpy_iterator()]


# -- the namespace --------------------------------------------------------------------------------
def test_namespace_and_constants():
    assert tf.data.Dataset is Dataset
    assert (tf.data.AUTOTUNE, tf.data.INFINITE_CARDINALITY, tf.data.UNKNOWN_CARDINALITY) == (-1, -1, -2)
    assert tf.data.experimental.AUTOTUNE == AUTOTUNE
    assert tf.data.experimental.cardinality(Dataset.range(3)) == 3


# -- TensorFlow's docstring examples ----------------------------------------------------------------
def test_tf_docstring_examples():
    assert as_list(Dataset.from_tensor_slices([1, 2, 3])) == [1, 2, 3]
    assert as_list(Dataset.from_tensor_slices([[1, 2], [3, 4]])) == [[1, 2], [3, 4]]
    assert as_list(Dataset.from_tensor_slices(([1, 2], [3, 4], [5, 6]))) == [(1, 3, 5), (2, 4, 6)]
    assert as_list(Dataset.from_tensor_slices({"a": [1, 2], "b": [3, 4]})) == [{"a": 1, "b": 3},
                                                                                {"a": 2, "b": 4}]
    assert as_list(Dataset.from_tensors([1, 2, 3])) == [[1, 2, 3]]
    assert as_list(Dataset.range(5)) == [0, 1, 2, 3, 4]
    assert as_list(Dataset.range(2, 5)) == [2, 3, 4]
    assert as_list(Dataset.range(1, 5, 2)) == [1, 3]
    assert as_list(Dataset.range(1, 5, -2)) == []
    assert as_list(Dataset.range(5, 1, -2)) == [5, 3]
    assert as_list(Dataset.range(8).batch(3)) == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert as_list(Dataset.range(8).batch(3, drop_remainder=True)) == [[0, 1, 2], [3, 4, 5]]
    assert as_list(Dataset.from_tensor_slices([1, 2, 3]).repeat(3)) == [1, 2, 3] * 3
    assert as_list(Dataset.range(10).take(3)) == [0, 1, 2]
    assert as_list(Dataset.range(10).skip(7)) == [7, 8, 9]
    assert as_list(Dataset.range(1, 6).map(lambda x: x + 1)) == [2, 3, 4, 5, 6]
    assert as_list(Dataset.from_tensor_slices([1, 2, 3]).filter(lambda x: x < 3)) == [1, 2]
    assert as_list(Dataset.from_tensor_slices([1, 2, 3]).enumerate(start=5)) == [(5, 1), (6, 2), (7, 3)]
    assert as_list(Dataset.range(1, 4).concatenate(Dataset.range(4, 8))) == [1, 2, 3, 4, 5, 6, 7]
    assert as_list(Dataset.from_tensor_slices([[1, 2, 3], [4, 5, 6]]).unbatch()) == [1, 2, 3, 4, 5, 6]
    assert as_list(Dataset.range(10).take_while(lambda x: x < 5)) == [0, 1, 2, 3, 4]
    # zip
    a, b = Dataset.range(1, 4), Dataset.range(4, 7)
    assert as_list(Dataset.zip(a, b)) == [(1, 4), (2, 5), (3, 6)]
    assert as_list(Dataset.zip((b, a))) == [(4, 1), (5, 2), (6, 3)]
    c = Dataset.range(7, 13).batch(2)
    assert as_list(Dataset.zip(a, b, c)) == [(1, 4, [7, 8]), (2, 5, [9, 10]), (3, 6, [11, 12])]
    d = Dataset.range(13, 15)
    assert as_list(Dataset.zip(a, d)) == [(1, 13), (2, 14)]
    # reduce
    assert int(Dataset.range(5).reduce(np.int64(0), lambda x, _: x + 1).numpy()) == 5
    assert int(Dataset.range(5).reduce(np.int64(0), lambda x, y: x + y).numpy()) == 10
    # cardinality
    ds = Dataset.range(42)
    assert ds.cardinality().numpy() == 42
    assert ds.repeat().cardinality() == INFINITE_CARDINALITY
    assert ds.filter(lambda x: True).cardinality() == UNKNOWN_CARDINALITY
    # from_generator with a signature
    def gen():
        for i in itertools.count(1):
            yield (i, [1] * i)
    g = Dataset.from_generator(gen, output_signature=(TensorSpec(shape=(), dtype=np.int64),
                                                      TensorSpec(shape=(None,), dtype=np.int32)))
    assert as_list(g.take(2)) == [(1, [1]), (2, [1, 1])]
    first = next(iter(g))
    assert first[0].dtype == np.int64 and first[1].dtype == np.int32
    assert g.cardinality() == UNKNOWN_CARDINALITY


# -- elements, structures, dtypes ---------------------------------------------------------------------
def test_iteration_yields_tensors_with_the_structure():
    x = np.arange(12, dtype=np.float64).reshape(6, 2)
    y = np.arange(6)
    ds = Dataset.from_tensor_slices({"x": x, "pair": (y, x[:, 0])})
    e = next(iter(ds))
    assert isinstance(e, dict) and set(e) == {"x", "pair"} and isinstance(e["pair"], tuple)
    assert all(isinstance(t, tf.Tensor) for t in (e["x"], e["pair"][0], e["pair"][1]))
    assert e["x"].shape == (2,) and e["x"].dtype == np.float64 and e["pair"][0].shape == ()
    b = list(ds.batch(4))
    assert [t["x"].shape for t in b] == [(4, 2), (2, 2)]
    np.testing.assert_array_equal(b[1]["pair"][0].numpy(), [4, 5])
    np.testing.assert_array_equal(b[1]["pair"][1].numpy(), [8.0, 10.0])


def test_dtypes_follow_tensorflow():
    e = next(iter(Dataset.from_tensor_slices(([1, 2], [1.5, 2.5], [True, False]))))
    assert (e[0].dtype, e[1].dtype, e[2].dtype) == (np.int32, np.float32, np.bool_)
    e = next(iter(Dataset.from_tensor_slices((np.arange(3), np.zeros(3)))))
    assert (e[0].dtype, e[1].dtype) == (np.int64, np.float64)         # NumPy arrays keep their dtype
    assert next(iter(Dataset.range(3))).dtype == np.int64
    assert next(iter(Dataset.range(3, output_type=np.int32))).dtype == np.int32
    # map: Python numbers become int32 / float32 as in TF, a list becomes a tuple
    e = next(iter(Dataset.range(1).map(lambda x: [1, 2.0])))
    assert isinstance(e, tuple) and (e[0].dtype, e[1].dtype) == (np.int32, np.float32)


def test_namedtuple_elements_keep_their_type_and_are_not_unpacked_by_map():
    import collections
    P = collections.namedtuple("P", "a b")
    ds = Dataset.from_tensor_slices(P(np.arange(3), np.arange(3) * 10))
    e = next(iter(ds))
    assert isinstance(e, P) and int(e.b.numpy()) == 0
    assert as_list(ds.map(lambda p: p.a + p.b)) == [0, 11, 22]


def test_dataset_holds_values_not_references():
    x = np.arange(4.0)
    v = tf.Var(np.arange(4.0))
    ds = Dataset.from_tensor_slices((x, v))
    x[:] = -1
    v.assign(np.full(4, -1.0))
    assert as_list(ds) == [(0.0, 0.0), (1.0, 1.0), (2.0, 2.0), (3.0, 3.0)]
    # a consumer writing into an as_numpy_iterator array does not change the dataset
    for arr in Dataset.from_tensor_slices(np.zeros((4, 2))).batch(2).as_numpy_iterator():
        arr[:] = 7
    assert as_list(Dataset.from_tensor_slices(np.zeros((2,))).batch(2)) == [[0.0, 0.0]]


def test_as_numpy_iterator_types():
    vals = list(Dataset.from_tensor_slices({"a": np.arange(2), "b": np.ones((2, 3))}).as_numpy_iterator())
    assert isinstance(vals[0]["a"], np.integer) and isinstance(vals[0]["b"], np.ndarray)
    assert vals[0]["b"].shape == (3,)


def test_map_arguments_like_tensorflow():
    seen = []
    ds = Dataset.from_tensor_slices((np.arange(3), np.arange(3) * 10))
    out = ds.map(lambda a, b: (seen.append((type(a), type(b))) or a + b, a * b))   # tuple: unpacked
    assert as_list(out) == [(0, 0), (11, 10), (22, 40)]
    assert seen[0] == (tf.Tensor, tf.Tensor)
    d = Dataset.from_tensor_slices({"x": np.arange(3)}).map(lambda e: {"y": e["x"] * 2})   # dict: one arg
    assert as_list(d) == [{"y": 0}, {"y": 2}, {"y": 4}]
    # map after batch sees whole batches
    shapes = []
    as_list(Dataset.range(5).batch(2).map(lambda b: shapes.append(b.shape) or b))
    assert shapes == [(2,), (2,), (1,)]


def test_batch_of_mapped_elements_stacks_them_and_checks_shapes():
    ds = Dataset.range(5).map(lambda x: (x, np.full(2, float(x.numpy()))))
    b = list(ds.batch(2).as_numpy_iterator())
    assert [v[1].shape for v in b] == [(2, 2), (2, 2), (1, 2)]
    np.testing.assert_array_equal(b[1][1], [[2.0, 2.0], [3.0, 3.0]])
    ragged = Dataset.range(3).map(lambda x: np.zeros(int(x.numpy()) + 1))
    with pytest.raises(ValueError, match=r"different shapes.*\(1,\).*\(2,\)"):
        list(ragged.batch(3))


def test_batches_of_sliced_arrays_are_slices():
    x = np.arange(1797 * 64, dtype=np.float32).reshape(1797, 64)
    y = np.arange(1797)
    batches = list(Dataset.from_tensor_slices((x, y)).batch(32))
    assert len(batches) == 57 and batches[-1][0].shape == (5, 64)
    np.testing.assert_array_equal(batches[3][0].numpy(), x[96:128])
    np.testing.assert_array_equal(batches[-1][1].numpy(), y[1792:])
    # unshuffled batches are views of the dataset's one copy of the data (no per-element stacking)
    bases = [b[0].data.base for b in batches]
    assert all(base is not None and base is bases[0] for base in bases)
    # and the batch pipeline agrees with the element-by-element one
    slow = list(Dataset.from_tensor_slices((x, y)).map(lambda a, b: (a, b)).batch(32).as_numpy_iterator())
    for (a, b), (c, d) in zip(slow, (tuple(t.numpy() for t in bt) for bt in batches)):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


# -- shuffle -------------------------------------------------------------------------------------------
def test_shuffle_is_a_permutation_and_reproducible_with_a_seed():
    a = as_list(Dataset.range(100).shuffle(100, seed=7))
    assert sorted(a) == list(range(100)) and a != list(range(100))
    assert as_list(Dataset.range(100).shuffle(100, seed=7)) == a       # a new pipeline, same seed
    assert as_list(Dataset.range(100).shuffle(100, seed=8)) != a


def test_shuffle_buffer_semantics():
    # buffer_size=1 does not shuffle; a buffer of B can only emit element i at position >= i - (B - 1)
    assert as_list(Dataset.range(20).shuffle(1, seed=0)) == list(range(20))
    for seed in range(20):
        out = as_list(Dataset.range(30).shuffle(3, seed=seed))
        assert sorted(out) == list(range(30))
        assert out[0] in (0, 1, 2)
        assert all(v < pos + 3 for pos, v in enumerate(out))


def test_shuffle_is_uniform_with_a_full_buffer():
    counts = np.zeros((4, 4))
    ds = Dataset.range(4).shuffle(4, seed=123)
    for _ in range(2000):                    # reshuffled on every pass
        for pos, v in enumerate(ds.as_numpy_iterator()):
            counts[pos, v] += 1
    np.testing.assert_allclose(counts / 2000, 0.25, atol=0.05)   # 5 standard deviations


def test_reshuffle_each_iteration():
    ds = Dataset.range(50).shuffle(50, seed=1)
    e1, e2 = as_list(ds), as_list(ds)
    assert e1 != e2 and sorted(e1) == sorted(e2)
    again = Dataset.range(50).shuffle(50, seed=1)
    assert as_list(again) == e1 and as_list(again) == e2        # the same sequence of epoch orders
    fixed = Dataset.range(50).shuffle(50, seed=1, reshuffle_each_iteration=False)
    assert as_list(fixed) == as_list(fixed)
    # repeat after shuffle reshuffles each repetition (as TF)
    rep = as_list(Dataset.range(50).shuffle(50, seed=1).repeat(2))
    assert rep[:50] != rep[50:] and sorted(rep[:50]) == sorted(rep[50:]) == list(range(50))


def test_seedless_shuffle_follows_the_project_seed():
    tf.utils.set_seed(5)
    a = as_list(Dataset.range(40).shuffle(40))
    tf.utils.set_seed(5)
    b = as_list(Dataset.range(40).shuffle(40))
    assert a == b and sorted(a) == list(range(40))


def test_shuffled_batches_match_shuffled_elements():
    x = np.arange(50)
    fast = np.concatenate(list(Dataset.from_tensor_slices(x).shuffle(7, seed=3).batch(5).as_numpy_iterator()))
    slow = as_list(Dataset.range(50).shuffle(7, seed=3))
    assert fast.tolist() == slow
    # and across repeat + take on the index path
    fast = np.concatenate(list(Dataset.from_tensor_slices(x).shuffle(10, seed=2).repeat(2).take(73)
                               .batch(8).as_numpy_iterator()))
    slow = as_list(Dataset.range(50).shuffle(10, seed=2).repeat(2).take(73))
    assert fast.tolist() == slow and len(slow) == 73


# -- repeat / take / skip / cardinality ------------------------------------------------------------------
def test_repeat_take_skip_and_their_cardinality():
    ds = Dataset.range(3)
    assert as_list(ds.repeat().take(7)) == [0, 1, 2, 0, 1, 2, 0]
    assert ds.repeat().take(7).cardinality() == 7
    assert as_list(ds.repeat(0)) == [] and ds.repeat(0).cardinality() == 0
    assert as_list(Dataset.range(0).repeat()) == []             # repeating nothing ends
    assert Dataset.range(0).repeat().cardinality() == 0
    assert as_list(ds.take(-1)) == [0, 1, 2] and ds.take(-1).cardinality() == 3
    assert as_list(ds.skip(-1)) == [] and ds.skip(-1).cardinality() == 0
    assert as_list(ds.skip(5)) == [] and ds.skip(5).cardinality() == 0
    assert ds.take(10).cardinality() == 3
    assert ds.repeat().skip(2).cardinality() == INFINITE_CARDINALITY
    assert ds.filter(lambda v: True).take(2).cardinality() == UNKNOWN_CARDINALITY
    assert ds.repeat(4).batch(5).cardinality() == 3 and ds.repeat(4).batch(5, drop_remainder=True).cardinality() == 2
    assert Dataset.zip(ds, ds.repeat()).cardinality() == 3
    assert Dataset.zip(ds.repeat(), ds.repeat()).cardinality() == INFINITE_CARDINALITY
    assert Dataset.zip(ds, ds.filter(lambda v: True)).cardinality() == UNKNOWN_CARDINALITY
    assert ds.concatenate(ds).cardinality() == 6
    assert ds.enumerate().cardinality() == 3 and ds.repeat().enumerate().cardinality() == INFINITE_CARDINALITY
    x = np.arange(10)
    assert as_list(Dataset.from_tensor_slices(x).skip(3).take(4).batch(3)) == [[3, 4, 5], [6]]


def test_len_like_tensorflow():
    assert len(Dataset.range(10).batch(3)) == 4
    with pytest.raises(TypeError, match="infinite"):
        len(Dataset.range(3).repeat())
    with pytest.raises(TypeError, match="unknown"):
        len(Dataset.range(3).filter(lambda v: True))
    assert bool(Dataset.range(0))             # truthiness does not call len (as TF)


def test_cache_replays_the_first_pass():
    calls = []
    ds = Dataset.range(4).map(lambda v: calls.append(1) or v * 3).cache()
    assert as_list(ds) == [0, 3, 6, 9] and len(calls) == 4
    assert as_list(ds) == [0, 3, 6, 9] and len(calls) == 4        # no more calls
    sc = Dataset.from_tensor_slices(np.arange(30)).shuffle(30, seed=4).cache()
    assert as_list(sc.batch(7)) == as_list(sc.batch(7))           # the cached order is frozen


def test_prefetch_is_a_no_op_and_map_options_are_accepted():
    ds = Dataset.range(5).map(lambda v: v, num_parallel_calls=AUTOTUNE, deterministic=True).prefetch(AUTOTUNE)
    assert as_list(ds.prefetch(2)) == [0, 1, 2, 3, 4]
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = 0
    options.deterministic = True
    assert as_list(ds.with_options(options)) == [0, 1, 2, 3, 4]


def test_element_spec():
    ds = Dataset.from_tensor_slices((np.zeros((10, 4), np.float32), np.arange(10)))
    assert ds.element_spec == (TensorSpec((4,), np.float32), TensorSpec((), np.int64))
    assert ds.batch(3).element_spec == (TensorSpec((None, 4), np.float32), TensorSpec((None,), np.int64))
    assert ds.batch(3, drop_remainder=True).element_spec[0] == TensorSpec((3, 4), np.float32)
    assert ds.batch(3).unbatch().element_spec[1] == TensorSpec((), np.int64)
    assert Dataset.range(3).element_spec == TensorSpec((), np.int64)
    assert ds.map(lambda a, b: a * 2).element_spec == TensorSpec((4,), np.float32)
    sh = ds.shuffle(10, seed=0)
    _ = sh.map(lambda a, b: a).element_spec          # computing a spec does not advance the shuffle
    assert as_list(sh.map(lambda a, b: b)) == as_list(Dataset.from_tensor_slices(np.arange(10)).shuffle(10, seed=0))


def test_from_generator_checks_and_casts():
    g = Dataset.from_generator(lambda: iter([1, 2, 3]), output_signature=TensorSpec((), np.float32))
    vals = list(g)
    assert [v.dtype for v in vals] == [np.float32] * 3 and as_list(g) == [1.0, 2.0, 3.0]
    old = Dataset.from_generator(lambda: ((i, np.ones(2)) for i in range(2)), output_types=(np.int64, np.float64),
                                 output_shapes=((), (2,)))
    assert as_list(old) == [(0, [1.0, 1.0]), (1, [1.0, 1.0])]
    bad = Dataset.from_generator(lambda: iter([np.zeros(3)]), output_signature=TensorSpec((2,), np.float64))
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(2,\)"):
        list(bad)
    args = Dataset.from_generator(lambda n: range(n), args=(3,), output_signature=TensorSpec((), np.int64))
    assert as_list(args) == [0, 1, 2] and as_list(args) == [0, 1, 2]      # re-iterable: called per pass


def test_flat_map_and_apply():
    ds = Dataset.range(3).flat_map(lambda v: Dataset.range(int(v.numpy())))
    assert as_list(ds) == [0, 0, 1]
    assert as_list(Dataset.range(6).apply(lambda d: d.skip(4))) == [4, 5]
    assert int(Dataset.range(7, 8).get_single_element().numpy()) == 7


def test_a_dataset_is_reiterable_and_iterators_are_independent():
    ds = Dataset.range(4)
    it1, it2 = iter(ds), iter(ds)
    assert int(next(it1).numpy()) == 0 and int(next(it1).numpy()) == 1
    assert int(it2.get_next().numpy()) == 0
    assert as_list(ds) == [0, 1, 2, 3]


def test_course_assignment_style_minibatches():
    """The course's TF assignment: one-hot labels, from_tensor_slices(...).batch(32), a tape loop."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 5)).astype(np.float32)
    labels = (X[:, 0] > 0).astype(np.int64)
    Y = np.eye(2, dtype=np.float32)[labels]
    W = tf.Var(rng.standard_normal((5, 2)).astype(np.float32) * 0.1)
    opt = tf.optimizers.Adam(0.05)
    minibatches = Dataset.from_tensor_slices((X, Y)).batch(32)
    assert len(minibatches) == 4
    first = last = None
    for epoch in range(30):
        total = 0.0
        for xb, yb in minibatches:
            with tf.GradientTape() as tape:
                logits = xb @ W
                loss = -(yb * tf.log_softmax(logits, axis=-1)).sum() / len(xb.data)
            grads = tape.gradient(loss, [W])
            opt.apply_gradients(zip(grads, [W]))
            total += float(loss.data)
        first = total if first is None else first
        last = total
    assert last < 0.5 * first


def test_fit_on_a_dataset_equals_fit_on_arrays():
    from tinygrad_bn.keras import Dense, Sequential
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    y = rng.standard_normal((40, 1)).astype(np.float32)

    def trained(data):
        tf.utils.set_seed(0)
        m = Sequential([Dense(4, activation="relu"), Dense(1)])
        m.build((None, 3))
        m.compile(optimizer=tf.optimizers.SGD(0.05), loss="mse")
        if data == "arrays":
            m.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
        else:
            m.fit(Dataset.from_tensor_slices((x, y)).batch(8), epochs=3, verbose=0)
        return m.get_weights()

    for a, b in zip(trained("arrays"), trained("dataset")):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# -- tinygrad_bn.utils ----------------------------------------------------------------------------------
def test_set_seed_seeds_only_the_project_generator():
    import random
    random.seed(11)
    np.random.seed(11)
    py_state, np_state = random.getstate(), np.random.get_state()
    tf.utils.set_seed(3)
    a = tf.utils.global_rng().integers(0, 1 << 30, size=4)
    assert random.getstate() == py_state
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1]) and after[2] == np_state[2]
    tf.utils.set_seed(3)
    np.testing.assert_array_equal(tf.utils.global_rng().integers(0, 1 << 30, size=4), a)


def test_set_random_seed_seeds_python_numpy_and_the_project():
    import random
    draws = []
    for _ in range(2):
        tf.keras.utils.set_random_seed(42)
        draws.append((random.random(), float(np.random.rand()), int(tf.utils.global_rng().integers(1 << 30))))
    assert draws[0] == draws[1]
    tf.utils.set_seed(42)
    assert int(tf.utils.global_rng().integers(1 << 30)) == draws[0][2]      # the project part is set_seed's
    random.seed(42)
    np.random.seed(42)
    assert (random.random(), float(np.random.rand())) == draws[0][:2]


def test_to_categorical_keras_examples():
    a = tf.keras.utils.to_categorical([0, 1, 2, 3], num_classes=4)
    np.testing.assert_array_equal(a, [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    assert a.dtype == np.float32
    b = tf.utils.to_categorical(np.array([[1], [2], [0]]))      # trailing axis of 1 dropped; 3 classes
    np.testing.assert_array_equal(b, [[0, 1, 0], [0, 0, 1], [1, 0, 0]])
    c = tf.utils.to_categorical(np.array([[0, 2], [1, 1]]), num_classes=3, dtype="int32")
    assert c.shape == (2, 2, 3) and c.dtype == np.int32 and c[0, 1].tolist() == [0, 0, 1]
    assert tf.utils.to_categorical(tf.constant(np.array([1.0, 0.0]))).tolist() == [[0.0, 1.0], [1.0, 0.0]]
    with pytest.raises(ValueError, match="to_categorical.*label 4"):
        tf.utils.to_categorical([0, 4], num_classes=3)
    with pytest.raises(ValueError, match="to_categorical.*-1"):
        tf.utils.to_categorical([0, -1], num_classes=3)


def test_batches_helper():
    x, y = np.arange(10), np.arange(10) * 2
    got = list(tf.utils.batches(x, y, batch_size=4))
    assert [b[0].tolist() for b in got] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [b.tolist() for b in tf.utils.batches(x, batch_size=4, drop_remainder=True)] == [[0, 1, 2, 3],
                                                                                            [4, 5, 6, 7]]
    sh = list(tf.utils.batches(x, y, batch_size=5, shuffle=True, seed=0))
    assert sorted(np.concatenate([b[0] for b in sh]).tolist()) == list(range(10))
    assert all((b[1] == 2 * b[0]).all() for b in sh)


def test_course_assignment_input_pipeline():
    """The course's TF assignment pipeline, written with TF names only."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 4, 4, 3)).astype(np.uint8)
    labels = rng.integers(0, 6, 10)
    x_train = tf.data.Dataset.from_tensor_slices(images)
    y_train = tf.data.Dataset.from_tensor_slices(labels)
    assert x_train.element_spec == TensorSpec((4, 4, 3), np.uint8)

    def normalize(image):
        image = tf.cast(image, tf.float32) / 255.0
        return tf.reshape(image, [-1, ])

    def one_hot_matrix(label, depth=6):
        return tf.reshape(tf.one_hot(label, depth, axis=0), shape=[-1, ])

    dataset = tf.data.Dataset.zip((x_train.map(normalize), y_train.map(one_hot_matrix)))
    assert dataset.cardinality().numpy() == 10
    minibatches = dataset.batch(4).prefetch(8)
    got = [(xb.numpy(), yb.numpy()) for xb, yb in minibatches]
    assert [g[0].shape for g in got] == [(4, 48), (4, 48), (2, 48)]
    np.testing.assert_allclose(got[1][0], images[4:8].reshape(4, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(got[2][1], np.eye(6)[labels[8:]])


def test_padded_batch_tf_docstring_examples():
    A = Dataset.range(1, 5, output_type=np.int32).map(lambda x: np.full(int(x.numpy()), int(x.numpy()), np.int32))
    assert as_list(A.padded_batch(2)) == [[[1, 0], [2, 2]], [[3, 3, 3, 0], [4, 4, 4, 4]]]
    assert as_list(A.padded_batch(2, padded_shapes=5)) == [[[1, 0, 0, 0, 0], [2, 2, 0, 0, 0]],
                                                           [[3, 3, 3, 0, 0], [4, 4, 4, 4, 0]]]
    assert as_list(A.padded_batch(2, padded_shapes=5, padding_values=-1)) == [
        [[1, -1, -1, -1, -1], [2, 2, -1, -1, -1]], [[3, 3, 3, -1, -1], [4, 4, 4, 4, -1]]]
    elements = [([1, 2, 3], [10]), ([4, 5], [11, 12])]
    ds = Dataset.from_generator(lambda: iter(elements), (np.int32, np.int32))
    ds = ds.padded_batch(2, padded_shapes=([4], [None]), padding_values=(-1, 100))
    out = list(ds.as_numpy_iterator())
    assert len(out) == 1 and out[0][0].dtype == np.int32
    assert out[0][0].tolist() == [[1, 2, 3, -1], [4, 5, -1, -1]] and out[0][1].tolist() == [[10, 100], [11, 12]]
    E = Dataset.zip((A, A)).padded_batch(2, padding_values=-1)
    assert as_list(E) == [([[1, -1], [2, 2]], [[1, -1], [2, 2]]),
                          ([[3, 3, 3, -1], [4, 4, 4, 4]], [[3, 3, 3, -1], [4, 4, 4, 4]])]
    assert A.padded_batch(3, drop_remainder=True).cardinality() == 1
    with pytest.raises(ValueError, match=r"padded_batch.*\(4,\).*\(3,\)"):
        list(A.padded_batch(4, padded_shapes=3))
