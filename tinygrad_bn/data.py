"""``tinygrad_bn.data``: input pipelines in the style of ``tf.data``.

    import tinygrad_bn as tf
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(1000, seed=0).batch(32)
    for xb, yb in ds:            # tinygrad_bn.Tensor batches, shapes (32, 64) and (32,)
        ...

A :class:`Dataset` is a description of a stream of *elements*; iterating it
(``for e in ds``, ``iter(ds)``) starts a fresh pass and yields each element as
``tinygrad_bn.Tensor``\\ s with the element's structure (a tuple, a dict, nested
tuples/dicts, or one tensor).  ``as_numpy_iterator()`` yields NumPy arrays
instead (0-d ones as NumPy scalars, like ``tensor.numpy()``).

Semantics follow TensorFlow:

* ``from_tensor_slices(x)`` slices every component along its first axis (a
  Python ``list`` is one tensor, as in TF; tuples and dicts are structures);
  Python ints become int32 and Python floats float32, NumPy arrays keep their
  dtype.  The data is copied once (a dataset holds values, not references).
* ``map(f)`` calls ``f(*components)`` when the element is a plain tuple and
  ``f(element)`` otherwise; ``f`` receives Tensors and may return Tensors,
  arrays or Python numbers (a returned list becomes a tuple).
* ``shuffle(buffer_size, seed=None, reshuffle_each_iteration=True)`` keeps a
  buffer of ``buffer_size`` elements and emits a uniformly chosen one, refilling
  its slot from the input (TF's algorithm: a buffer smaller than the data only
  shuffles locally).  With a ``seed`` the orders are reproducible: a new pipeline
  with the same seed yields the same sequence of epoch orders.  Without one the
  seed is drawn from the project's generator when the dataset is created, so
  ``tinygrad_bn.utils.set_seed`` makes it reproducible too.
* ``cardinality()`` is the number of elements, or :data:`INFINITE_CARDINALITY`
  (-1) / :data:`UNKNOWN_CARDINALITY` (-2) with TF's propagation rules (``filter``
  makes it unknown, ``repeat()`` infinite ...); ``len(ds)`` raises TypeError when
  it is not a finite known number.  ``cardinality()`` returns an ``int`` subclass
  with a ``.numpy()`` method, so both ``ds.cardinality() == INFINITE_CARDINALITY``
  and ``ds.cardinality().numpy()`` work.
* ``prefetch`` is a no-op (there is no background thread); ``num_parallel_calls``
  and ``deterministic`` are accepted and ignored (work is done in order).

Speed: pipelines made of ``from_tensor_slices``/``from_tensors`` followed by any of
``shuffle``, ``repeat``, ``take``, ``skip``, ``cache``, ``prefetch`` and then
``batch`` never build per-element objects: they work on row indices, and each
batch is one slice (a view) or one fancy-index gather of the source arrays.
Anything after a ``map``/``filter``/``zip`` on single elements goes element by
element, as in TF.
"""
import itertools
import numbers
import threading

import numpy as np

from .tensor import Tensor, Var, wrap

__all__ = ["Dataset", "TensorSpec", "Options", "AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY",
           "experimental"]

#: ``tf.data.AUTOTUNE``: accepted wherever a buffer size or a parallelism is.
AUTOTUNE = -1
#: ``tf.data.INFINITE_CARDINALITY``
INFINITE_CARDINALITY = -1
#: ``tf.data.UNKNOWN_CARDINALITY``
UNKNOWN_CARDINALITY = -2

_INT32 = np.iinfo(np.int32)
_STATE = threading.local()      # _STATE.peeking: computing element_spec must not advance shuffles


class _Cardinality(int):
    """An int with ``.numpy()`` (TF returns a scalar int64 tensor)."""

    def numpy(self):
        return np.int64(self)

    def __repr__(self):
        return int.__repr__(self)


# ---------------------------------------------------------------------------------------------
# Structures: tuples (and namedtuples) and dicts are structures, anything else is a leaf
# ---------------------------------------------------------------------------------------------
def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _flatten(s):
    if isinstance(s, tuple):
        out = []
        for c in s:
            out.extend(_flatten(c))
        return out
    if isinstance(s, dict):
        out = []
        for k in s:
            out.extend(_flatten(s[k]))
        return out
    return [s]


def _pack(template, leaves):
    """Rebuild ``template``'s structure from an iterator of leaves."""
    it = iter(leaves)
    return _pack_it(template, it)


def _pack_it(t, it):
    if isinstance(t, tuple):
        kids = [_pack_it(c, it) for c in t]
        return type(t)._make(kids) if _is_namedtuple(t) else tuple(kids)
    if isinstance(t, dict):
        return {k: _pack_it(t[k], it) for k in t}
    return next(it)


def _map_struct(fn, s, path="element"):
    """``fn(leaf, path)`` over a structure; path names the component (``element[0]['x']``)."""
    if isinstance(s, tuple):
        kids = [_map_struct(fn, c, f"{path}[{i}]") for i, c in enumerate(s)]
        return type(s)._make(kids) if _is_namedtuple(s) else tuple(kids)
    if isinstance(s, dict):
        return {k: _map_struct(fn, v, f"{path}[{k!r}]") for k, v in s.items()}
    return fn(s, path)


def _paths(s, path="element"):
    out = []
    _map_struct(lambda leaf, p: out.append(p), s, path)
    return out


def _same_structure(a, b):
    if isinstance(a, tuple):
        return (isinstance(b, tuple) and len(a) == len(b) and _is_namedtuple(a) == _is_namedtuple(b)
                and all(_same_structure(x, y) for x, y in zip(a, b)))
    if isinstance(a, dict):
        return isinstance(b, dict) and set(a) == set(b) and all(_same_structure(a[k], b[k]) for k in a)
    return not isinstance(b, (tuple, dict))


def _describe(s):
    return repr(_map_struct(lambda leaf, p: "*", s)).replace("'*'", "*")


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------
def _to_array(value, where):
    """A user value as a NumPy array with TF's dtype rules (Python int -> int32, float -> float32)."""
    if isinstance(value, Dataset):
        raise TypeError(f"{where}: got a Dataset where a tensor or array was expected")
    if isinstance(value, Tensor):
        arr = value.data
        if isinstance(value, Var):
            arr = np.array(arr)
        arr = np.asarray(arr)
    elif isinstance(value, np.ndarray):
        arr = value
    elif isinstance(value, np.generic):
        arr = np.asarray(value)
    elif value is None or isinstance(value, (str, bytes)) or not (
            isinstance(value, (numbers.Number, list)) or hasattr(value, "__array__")):
        raise TypeError(f"{where}: expected a tensor, array or number, got {type(value).__name__} "
                        f"{_short(value)}")
    else:
        try:
            arr = np.asarray(value)
        except ValueError as e:
            raise ValueError(f"{where}: cannot make one tensor from {type(value).__name__} "
                             f"{_short(value)} ({e}); nested lists must be rectangular") from None
        if arr.dtype.kind in "iu" and not hasattr(value, "__array__"):
            if arr.size == 0 or (arr.min() >= _INT32.min and arr.max() <= _INT32.max):
                arr = arr.astype(np.int32)
        elif arr.dtype.kind == "f" and not hasattr(value, "__array__"):
            arr = arr.astype(np.float32)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{where}: unsupported dtype {arr.dtype} (shape {arr.shape}); "
                        "tensors hold bool, integer or floating-point numbers")
    return arr


def _short(value, n=60):
    r = repr(value)
    return r if len(r) <= n else r[:n] + "..."


def _to_tensors(element):
    return _map_struct(lambda a, p: wrap(a), element)


def _to_numpy(element):
    return _map_struct(lambda a, p: a[()] if a.ndim == 0 else np.array(a), element)


def _normalize(value, where, list_is_tuple=True):
    """A function's return value (map: a list is a tuple, as TF; from_generator: a list is
    one tensor) as a structure of arrays."""
    if isinstance(value, list) and list_is_tuple:
        value = tuple(value)
    if isinstance(value, tuple):
        kids = [_normalize(v, f"{where}[{i}]", list_is_tuple) for i, v in enumerate(value)]
        return type(value)._make(kids) if _is_namedtuple(value) else tuple(kids)
    if isinstance(value, dict):
        return {k: _normalize(v, f"{where}[{k!r}]", list_is_tuple) for k, v in value.items()}
    return _to_array(value, where)


def _int_arg(value, fn, name, minimum=None, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{fn}: {name} must be an integer, got {type(value).__name__} {_short(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {value}")
    return value


def _bool_arg(value, fn, name):
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fn}: {name} must be a bool, got {type(value).__name__} {_short(value)}")
    return bool(value)


def _parallel_arg(value, fn):
    if value is None:
        return
    v = _int_arg(value, fn, "num_parallel_calls")
    if v != AUTOTUNE and v < 1:
        raise ValueError(f"{fn}: num_parallel_calls must be >= 1 or tinygrad_bn.data.AUTOTUNE (-1), got {v}")


def _check_callable(fn, op, name):
    if not callable(fn):
        raise TypeError(f"Dataset.{op}: {name} must be callable, got {type(fn).__name__} {_short(fn)}")


# ---------------------------------------------------------------------------------------------
# TensorSpec
# ---------------------------------------------------------------------------------------------
class TensorSpec:
    """Shape and dtype of one component (``tf.TensorSpec``); ``None`` marks an unknown
    dimension, ``shape=None`` an unknown rank."""

    __slots__ = ("shape", "dtype", "name")

    def __init__(self, shape, dtype=np.float32, name=None):
        self.shape = None if shape is None else tuple(None if d is None else int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.name = name

    @classmethod
    def from_array(cls, arr):
        return cls(arr.shape, arr.dtype)

    def is_compatible_with(self, value):
        """True if ``value`` (a spec, Tensor or array) has a matching dtype and a compatible shape."""
        if isinstance(value, TensorSpec):
            shape, dtype = value.shape, value.dtype
        else:
            arr = _to_array(value, "TensorSpec.is_compatible_with")
            shape, dtype = arr.shape, arr.dtype
        return dtype == self.dtype and _shapes_compatible(self.shape, shape)

    def _most_specific_common(self, other):
        if self.shape is None or other.shape is None or len(self.shape) != len(other.shape):
            shape = None
        else:
            shape = tuple(a if a == b else None for a, b in zip(self.shape, other.shape))
        return TensorSpec(shape, self.dtype)

    def __eq__(self, other):
        return (isinstance(other, TensorSpec) and self.shape == other.shape and self.dtype == other.dtype
                and self.name == other.name)

    def __hash__(self):
        return hash((self.shape, self.dtype, self.name))

    def __repr__(self):
        return f"TensorSpec(shape={self.shape}, dtype={self.dtype.name}, name={self.name!r})"


def _shapes_compatible(spec_shape, shape):
    if spec_shape is None or shape is None:
        return True
    return len(spec_shape) == len(shape) and all(a is None or b is None or a == b
                                                 for a, b in zip(spec_shape, shape))


# ---------------------------------------------------------------------------------------------
# Index plans: how index-based pipelines describe one pass without touching elements
# ---------------------------------------------------------------------------------------------
def _plan_ints(chunks):
    for ch in chunks:
        if isinstance(ch, slice):
            yield from range(ch.start, ch.stop)
        else:
            yield from ch.tolist()


def _plan_take(chunks, count):
    left = count
    if left <= 0:
        return
    for ch in chunks:
        n = (ch.stop - ch.start) if isinstance(ch, slice) else len(ch)
        if n >= left:
            yield slice(ch.start, ch.start + left) if isinstance(ch, slice) else ch[:left]
            return
        yield ch
        left -= n


def _plan_skip(chunks, count):
    left = count
    for ch in chunks:
        if left <= 0:
            yield ch
            continue
        n = (ch.stop - ch.start) if isinstance(ch, slice) else len(ch)
        if n <= left:
            left -= n
            continue
        yield slice(ch.start + left, ch.stop) if isinstance(ch, slice) else ch[left:]
        left = 0


def _plan_batches(chunks, batch_size, drop_remainder):
    """Group index chunks into batch selectors: a slice when a batch is one contiguous run
    (then the batch is a view), else one index array (one gather)."""
    pending, count = [], 0

    def merged():
        if len(pending) == 1:
            return pending[0]
        return np.concatenate([np.arange(p.start, p.stop) if isinstance(p, slice) else p for p in pending])

    for ch in chunks:
        is_slice = isinstance(ch, slice)
        pos, n = (ch.start, ch.stop) if is_slice else (0, len(ch))
        while pos < n:
            take = min(batch_size - count, n - pos)
            pending.append(slice(pos, pos + take) if is_slice else ch[pos:pos + take])
            count += take
            pos += take
            if count == batch_size:
                yield merged()
                pending, count = [], 0
    if count and not drop_remainder:
        yield merged()


def _buffer_shuffle(items, buffer_size, rng):
    """TF's shuffle buffer: fill ``buffer_size`` items, then repeatedly emit a uniformly
    chosen one and put the next input item in its place; drain the same way at the end
    (swap-remove).  Slot choices come from blocks of uniforms drawn from ``rng``, so the
    order depends only on the seed and the number of items (index-based and element-based
    pipelines give the same order)."""
    it = iter(items)
    buf = list(itertools.islice(it, buffer_size))
    u = rng.random(1024)
    pos = 0
    n = len(buf)
    if n == buffer_size:               # streaming phase: the buffer stays full
        js = np.minimum((u * n).astype(np.intp), n - 1).tolist()
        for item in it:
            if pos == 1024:
                u = rng.random(1024)
                js = np.minimum((u * n).astype(np.intp), n - 1).tolist()
                pos = 0
            j = js[pos]
            pos += 1
            yield buf[j]
            buf[j] = item
    while buf:                         # drain: sizes len(buf), len(buf) - 1, ..., 1
        if pos == 1024:
            u = rng.random(1024)
            pos = 0
        m = min(1024 - pos, len(buf))
        sizes = np.arange(len(buf), len(buf) - m, -1)
        js = np.minimum((u[pos:pos + m] * sizes).astype(np.intp), sizes - 1).tolist()
        pos += m
        for j in js:
            last = buf.pop()
            if j < len(buf):
                out = buf[j]
                buf[j] = last
                yield out
            else:
                yield last


# ---------------------------------------------------------------------------------------------
# Dataset
# ---------------------------------------------------------------------------------------------
class Dataset:
    """A stream of elements (``tf.data.Dataset``).  Make one with :meth:`from_tensor_slices`,
    :meth:`from_tensors`, :meth:`range`, :meth:`from_generator` or :meth:`zip`, and
    transform it with the methods below; every method returns a new Dataset."""

    # -- what each node implements ------------------------------------------------------------
    def _elements(self):                  # one pass, as structures of NumPy arrays
        raise NotImplementedError

    def _card(self):
        return UNKNOWN_CARDINALITY

    def _spec(self):                      # structure of TensorSpec
        raise NotImplementedError

    def _index_view(self):
        """``(leaves, template, plan)`` when every element is row ``i`` of the source arrays
        ``leaves`` and ``plan()`` yields one pass's row indices as slices / int arrays."""
        return None

    # -- sources --------------------------------------------------------------------------------
    @staticmethod
    def from_tensor_slices(tensors, name=None):
        """One element per row: each component sliced along its first axis."""
        return _Slices(tensors)

    @staticmethod
    def from_tensors(tensors, name=None):
        """A dataset of exactly one element: ``tensors`` itself."""
        return _FromTensors(tensors)

    @staticmethod
    def range(*args, output_type=np.int64, name=None):
        """``range(stop)``, ``range(start, stop[, step])`` as scalar elements (int64, as TF)."""
        return _Range(args, output_type)

    @staticmethod
    def from_generator(generator, output_types=None, output_shapes=None, args=None,
                       output_signature=None, name=None):
        """Elements from ``generator(*args)`` (a callable returning an iterable).

        ``output_signature`` (a structure of :class:`TensorSpec`) is checked against every
        element (values are cast to the declared dtype when NumPy's ``same_kind`` rule
        allows); without it the structure is that of the first element."""
        return _Generator(generator, output_types, output_shapes, args, output_signature)

    @staticmethod
    def zip(*datasets, name=None):
        """Elements of several datasets side by side: ``zip(a, b)`` or ``zip((a, b))`` or
        ``zip({'x': a, 'y': b})``; stops at the shortest."""
        if not datasets:
            raise TypeError("Dataset.zip: give at least one dataset")
        struct = datasets[0] if len(datasets) == 1 else tuple(datasets)
        return _Zip(struct)

    # -- transformations ---------------------------------------------------------------------------
    def map(self, map_func, num_parallel_calls=None, deterministic=None, name=None):
        """``map_func(*element)`` for tuple elements, ``map_func(element)`` otherwise."""
        _check_callable(map_func, "map", "map_func")
        _parallel_arg(num_parallel_calls, "Dataset.map")
        return _Map(self, map_func)

    def filter(self, predicate, name=None):
        """Keep the elements for which ``predicate`` returns a scalar boolean True."""
        _check_callable(predicate, "filter", "predicate")
        return _Filter(self, predicate)

    def batch(self, batch_size, drop_remainder=False, num_parallel_calls=None, deterministic=None,
              name=None):
        """Stack ``batch_size`` consecutive elements (the last batch may be smaller unless
        ``drop_remainder=True``)."""
        batch_size = _int_arg(batch_size, "Dataset.batch", "batch_size", minimum=1)
        drop_remainder = _bool_arg(drop_remainder, "Dataset.batch", "drop_remainder")
        _parallel_arg(num_parallel_calls, "Dataset.batch")
        return _Batch(self, batch_size, drop_remainder)

    def padded_batch(self, batch_size, padded_shapes=None, padding_values=None, drop_remainder=False,
                     name=None):
        """Like ``batch``, padding each component to a common shape first: the
        ``padded_shapes`` entry for it (``None`` / ``-1`` dimensions, and the default,
        take the largest size in the batch), filled with ``padding_values`` (default 0)."""
        fn = "Dataset.padded_batch"
        batch_size = _int_arg(batch_size, fn, "batch_size", minimum=1)
        drop_remainder = _bool_arg(drop_remainder, fn, "drop_remainder")
        return _PaddedBatch(self, batch_size, padded_shapes, padding_values, drop_remainder)

    def unbatch(self, name=None):
        """Split each element along its first axis (the inverse of ``batch``)."""
        return _Unbatch(self)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=None, name=None):
        """Shuffle with a buffer of ``buffer_size`` elements (see the module docstring)."""
        buffer_size = _int_arg(buffer_size, "Dataset.shuffle", "buffer_size")
        if buffer_size < 1:
            raise ValueError(f"Dataset.shuffle: buffer_size must be greater than zero, got {buffer_size}")
        seed = _int_arg(seed, "Dataset.shuffle", "seed", allow_none=True)
        reshuffle = True if reshuffle_each_iteration is None else _bool_arg(
            reshuffle_each_iteration, "Dataset.shuffle", "reshuffle_each_iteration")
        return _Shuffle(self, buffer_size, seed, reshuffle)

    def repeat(self, count=None, name=None):
        """Repeat ``count`` times (``None`` or a negative count: forever)."""
        count = _int_arg(count, "Dataset.repeat", "count", allow_none=True)
        return _Repeat(self, -1 if count is None else count)

    def take(self, count, name=None):
        """The first ``count`` elements (``-1``: all of them)."""
        return _Take(self, _int_arg(count, "Dataset.take", "count"))

    def skip(self, count, name=None):
        """All but the first ``count`` elements (``-1``: skip everything)."""
        return _Skip(self, _int_arg(count, "Dataset.skip", "count"))

    def prefetch(self, buffer_size, name=None):
        """A no-op kept for TF code (there is no background thread)."""
        b = _int_arg(buffer_size, "Dataset.prefetch", "buffer_size")
        if b < AUTOTUNE:
            raise ValueError(f"Dataset.prefetch: buffer_size must be >= 0 or tinygrad_bn.data.AUTOTUNE (-1), "
                             f"got {b}")
        return self

    def with_options(self, options, name=None):
        """Accepted for TF code; the options (threading, autosharding ...) do not apply here."""
        if not isinstance(options, Options):
            raise TypeError(f"Dataset.with_options: options must be a tinygrad_bn.data.Options, got "
                            f"{type(options).__name__}")
        return self

    def options(self):
        return Options()

    def cache(self, filename="", name=None):
        """Remember the elements of the first complete pass and replay them afterwards
        (in memory; a ``filename`` is not supported)."""
        if filename not in ("", None):
            raise NotImplementedError(f"Dataset.cache: only the in-memory cache (filename='') is supported, "
                                      f"got filename={filename!r}")
        return _Cache(self)

    def enumerate(self, start=0, name=None):
        """Pairs ``(index, element)`` with int64 indices counting from ``start``."""
        start = _int_arg(start, "Dataset.enumerate", "start")
        return _Zip((_Counter(start), self))

    def concatenate(self, dataset, name=None):
        """This dataset's elements followed by ``dataset``'s (same structure and dtypes)."""
        if not isinstance(dataset, Dataset):
            raise TypeError(f"Dataset.concatenate: dataset must be a Dataset, got {type(dataset).__name__}")
        return _Concatenate(self, dataset)

    def flat_map(self, map_func, name=None):
        """``map_func(element)`` returns a Dataset; their elements are chained."""
        _check_callable(map_func, "flat_map", "map_func")
        return _FlatMap(self, map_func)

    def take_while(self, predicate, name=None):
        """Elements up to (not including) the first for which ``predicate`` is False."""
        _check_callable(predicate, "take_while", "predicate")
        return _TakeWhile(self, predicate)

    def apply(self, transformation_func):
        """``transformation_func(self)``, which must return a Dataset."""
        out = transformation_func(self)
        if not isinstance(out, Dataset):
            raise TypeError(f"Dataset.apply: transformation_func must return a Dataset, got {type(out).__name__}")
        return out

    def reduce(self, initial_state, reduce_func, name=None):
        """Fold the elements: ``state = reduce_func(state, element)``; returns the final state."""
        _check_callable(reduce_func, "reduce", "reduce_func")
        state = _normalize(initial_state, "Dataset.reduce: initial_state")
        for e in self._elements():
            new = reduce_func(_to_tensors(state), _to_tensors(e))
            new = _normalize(new, "Dataset.reduce: reduce_func's result")
            if not _same_structure(state, new):
                raise TypeError(f"Dataset.reduce: reduce_func returned the structure {_describe(new)} but the "
                                f"state has the structure {_describe(state)}")
            state = new
        return _to_tensors(state)

    # -- inspection -----------------------------------------------------------------------------------
    def cardinality(self):
        """Number of elements, or INFINITE_CARDINALITY (-1) / UNKNOWN_CARDINALITY (-2)."""
        return _Cardinality(self._card())

    def __len__(self):
        n = self._card()
        if n == INFINITE_CARDINALITY:
            raise TypeError("The dataset is infinite.")
        if n == UNKNOWN_CARDINALITY:
            raise TypeError("The dataset length is unknown.")
        return n

    def __bool__(self):
        return True

    @property
    def element_spec(self):
        """The structure of :class:`TensorSpec` of one element (after a ``map`` or a
        ``from_generator`` without a signature, taken from the first element)."""
        return self._spec()

    def __iter__(self):
        return _Iterator(self._elements())

    def as_numpy_iterator(self):
        """Iterate over the elements as NumPy arrays (0-d ones as NumPy scalars)."""
        return (_to_numpy(e) for e in self._elements())

    def get_single_element(self, name=None):
        """The only element of a one-element dataset."""
        it = self._elements()
        try:
            first = next(it)
        except StopIteration:
            raise ValueError("Dataset.get_single_element: the dataset is empty") from None
        for _ in it:
            raise ValueError("Dataset.get_single_element: the dataset has more than one element")
        return _to_tensors(first)

    def _numpy_batches(self):
        """Internal, for ``fit``: one pass of elements as structures of NumPy arrays (views
        into the dataset's own arrays where possible: do not write into them)."""
        return self._elements()

    def __repr__(self):
        n = self._card()
        card = {INFINITE_CARDINALITY: "infinite", UNKNOWN_CARDINALITY: "unknown"}.get(n, n)
        return f"<{type(self).__name__.lstrip('_')}Dataset cardinality={card}>"


class _Iterator:
    """``iter(dataset)``: Python iterator of Tensor elements (``next(it)``, ``it.get_next()``)."""

    def __init__(self, elements):
        self._it = elements

    def __iter__(self):
        return self

    def __next__(self):
        return _to_tensors(next(self._it))

    def get_next(self):
        return self.__next__()


def _spec_of(element):
    return _map_struct(lambda a, p: TensorSpec.from_array(a), element)


def _peek_spec(ds, what):
    prev = getattr(_STATE, "peeking", False)
    _STATE.peeking = True
    try:
        for e in ds._elements():
            return _spec_of(e)
    finally:
        _STATE.peeking = prev
    raise ValueError(f"{what}: element_spec is unknown (the dataset produced no element to infer it from)")


# -- sources ----------------------------------------------------------------------------------------
class _Slices(Dataset):
    def __init__(self, tensors):
        fn = "Dataset.from_tensor_slices"
        if isinstance(tensors, Dataset):
            raise TypeError(f"{fn}: got a Dataset; use it directly (or Dataset.zip to combine datasets)")
        if isinstance(tensors, (tuple, dict)) and not _flatten(tensors):
            raise ValueError(f"{fn}: the structure {_describe(tensors)} holds no tensors")
        arrays = _map_struct(lambda v, p: _to_array(v, f"{fn}: {p.replace('element', 'tensors', 1)}"),
                             tensors)
        leaves = _flatten(arrays)
        paths = _paths(arrays, "tensors")
        for a, p in zip(leaves, paths):
            if a.ndim == 0:
                raise ValueError(f"{fn}: {p} is a scalar (shape ()); slicing needs at least one axis")
        n = len(leaves[0])
        if any(len(a) != n for a in leaves):
            shapes = ", ".join(f"{p}: {a.shape}" for a, p in zip(leaves, paths))
            raise ValueError(f"{fn}: all components must have the same size in the first dimension, got {shapes}")
        # copy once: the dataset holds values (later changes to the caller's arrays do not leak in)
        self._leaves = [np.array(a, order="C", copy=True) for a in leaves]
        self._template = _map_struct(lambda a, p: None, arrays)     # the structure only
        self._n = n

    def _index_view(self):
        n = self._n
        return self._leaves, self._template, lambda: iter((slice(0, n),))

    def _elements(self):
        return _view_elements(self._index_view())

    def _card(self):
        return self._n

    def _spec(self):
        return _pack(self._template, [TensorSpec(a.shape[1:], a.dtype) for a in self._leaves])


def _view_elements(view):
    leaves, template, plan = view
    for i in _plan_ints(plan()):
        yield _pack(template, [a[i, ...] for a in leaves])


class _FromTensors(Dataset):
    def __init__(self, tensors):
        fn = "Dataset.from_tensors"
        if isinstance(tensors, Dataset):
            raise TypeError(f"{fn}: got a Dataset, expected tensors")
        arrays = _map_struct(lambda v, p: _to_array(v, f"{fn}: {p.replace('element', 'tensors', 1)}"),
                             tensors)
        self._template = _map_struct(lambda a, p: None, arrays)
        self._leaves = [np.array(a, order="C", copy=True)[None] for a in _flatten(arrays)]

    def _index_view(self):
        return self._leaves, self._template, lambda: iter((slice(0, 1),))

    def _elements(self):
        return _view_elements(self._index_view())

    def _card(self):
        return 1

    def _spec(self):
        return _pack(self._template, [TensorSpec(a.shape[1:], a.dtype) for a in self._leaves])


class _Range(Dataset):
    def __init__(self, args, output_type):
        fn = "Dataset.range"
        if not 1 <= len(args) <= 3:
            raise TypeError(f"{fn}: takes 1 to 3 arguments (stop | start, stop[, step]), got {len(args)}")
        names = ("stop",) if len(args) == 1 else ("start", "stop", "step")[:len(args)]
        vals = [_int_arg(a, fn, nm) for a, nm in zip(args, names)]
        start, stop, step = (0, vals[0], 1) if len(vals) == 1 else (vals + [1])[:3]
        if step == 0:
            raise ValueError(f"{fn}: step must not be zero")
        self._dtype = np.dtype(output_type)
        if self._dtype.kind not in "iuf":
            raise TypeError(f"{fn}: output_type must be a numeric dtype, got {self._dtype}")
        self._range = range(start, stop, step)

    def _elements(self):
        dt = self._dtype
        for i in self._range:
            yield np.array(i, dtype=dt)

    def _card(self):
        return len(self._range)

    def _spec(self):
        return TensorSpec((), self._dtype)


class _Counter(Dataset):
    """start, start + 1, ... (int64) without end: the index half of ``enumerate``."""

    def __init__(self, start):
        self._start = start

    def _elements(self):
        for i in itertools.count(self._start):
            yield np.array(i, dtype=np.int64)

    def _card(self):
        return INFINITE_CARDINALITY

    def _spec(self):
        return TensorSpec((), np.int64)


class _Generator(Dataset):
    def __init__(self, generator, output_types, output_shapes, args, output_signature):
        fn = "Dataset.from_generator"
        if not callable(generator):
            raise TypeError(f"{fn}: generator must be a Python callable that returns an iterable, got "
                            f"{type(generator).__name__}" + (" (pass the generator function, not a generator "
                                                             "object)" if hasattr(generator, "__next__") else ""))
        if output_signature is not None and (output_types is not None or output_shapes is not None):
            raise TypeError(f"{fn}: give either output_signature or output_types/output_shapes, not both")
        sig = None
        if output_signature is not None:
            def check(s, p):
                if not isinstance(s, TensorSpec):
                    raise TypeError(f"{fn}: output_signature must be a structure of TensorSpec, {p} is "
                                    f"{type(s).__name__}")
                return s
            sig = _map_struct(check, _listless(output_signature), "output_signature")
        elif output_types is not None:
            sig = _match_shapes(_listless(output_types), output_shapes, fn)
        elif output_shapes is not None:
            raise TypeError(f"{fn}: output_shapes needs output_types")
        self._gen = generator
        self._args = () if args is None else tuple(args)
        self._sig = sig

    def _elements(self):
        fn = "Dataset.from_generator"
        sig = self._sig
        it = self._gen(*self._args)
        try:
            it = iter(it)
        except TypeError:
            raise TypeError(f"{fn}: generator() must return an iterable, got {type(it).__name__}") from None
        first = None
        for k, value in enumerate(it):
            if sig is not None:
                e = _conform(value, sig, f"{fn}: element {k}")
            else:
                e = _normalize(value, f"{fn}: element {k}", list_is_tuple=False)
                if first is None:
                    first = e
                elif not _same_structure(first, e):
                    raise TypeError(f"{fn}: element {k} has the structure {_describe(e)} but the first element "
                                    f"had {_describe(first)}")
            yield e

    def _spec(self):
        if self._sig is not None:
            return self._sig
        return _peek_spec(self, "Dataset.from_generator")


def _listless(s):
    if isinstance(s, list):
        return tuple(_listless(x) for x in s)
    if isinstance(s, tuple) and not _is_namedtuple(s):
        return tuple(_listless(x) for x in s)
    if isinstance(s, dict):
        return {k: _listless(v) for k, v in s.items()}
    return s


def _match_shapes(types, shapes, fn):
    """TensorSpecs from the old ``output_types``/``output_shapes`` pair (shapes follow types)."""
    if isinstance(types, tuple):
        if shapes is None:
            return tuple(_match_shapes(t, None, fn) for t in types)
        if not isinstance(shapes, (tuple, list)) or len(shapes) != len(types):
            raise ValueError(f"{fn}: output_shapes {shapes!r} does not match the structure of output_types")
        return tuple(_match_shapes(t, s, fn) for t, s in zip(types, shapes))
    if isinstance(types, dict):
        if shapes is None:
            return {k: _match_shapes(t, None, fn) for k, t in types.items()}
        if not isinstance(shapes, dict) or set(shapes) != set(types):
            raise ValueError(f"{fn}: output_shapes {shapes!r} does not match the structure of output_types")
        return {k: _match_shapes(types[k], shapes[k], fn) for k in types}
    try:
        return TensorSpec(shapes, types)
    except TypeError as e:
        raise TypeError(f"{fn}: bad output_types/output_shapes entry {types!r}/{shapes!r}: {e}") from None


def _conform(value, sig, where, path="element"):
    """A generator's value converted along ``output_signature``'s structure and checked."""
    if isinstance(sig, tuple):
        if not isinstance(value, (tuple, list)) or len(value) != len(sig):
            raise TypeError(f"{where}: {path} is {type(value).__name__} {_short(value)}, but output_signature "
                            f"expects the structure {_describe(sig)}")
        kids = [_conform(v, s, where, f"{path}[{i}]") for i, (v, s) in enumerate(zip(value, sig))]
        return type(sig)._make(kids) if _is_namedtuple(sig) else tuple(kids)
    if isinstance(sig, dict):
        if not isinstance(value, dict) or set(value) != set(sig):
            raise TypeError(f"{where}: {path} is {type(value).__name__} {_short(value)}, but output_signature "
                            f"expects a dict with keys {sorted(map(str, sig))}")
        return {k: _conform(value[k], sig[k], where, f"{path}[{k!r}]") for k in sig}
    if isinstance(value, (tuple, dict)):
        raise TypeError(f"{where}: {path} is a {type(value).__name__}, but output_signature declares one "
                        f"tensor {sig}")
    is_python = not isinstance(value, (Tensor, np.ndarray, np.generic))
    a = _to_array(value, f"{where}: {path}")
    if a.dtype != sig.dtype:
        if not (is_python or np.can_cast(a.dtype, sig.dtype, casting="same_kind")):
            raise TypeError(f"{where}: {path} has dtype {a.dtype}, but output_signature declares {sig.dtype}")
        a = a.astype(sig.dtype)
    if not _shapes_compatible(sig.shape, a.shape):
        raise ValueError(f"{where}: {path} has shape {a.shape}, which is not compatible with the declared "
                         f"shape {sig.shape}")
    return a


class _Zip(Dataset):
    def __init__(self, struct):
        def check(d, p):
            if not isinstance(d, Dataset):
                raise TypeError(f"Dataset.zip: every argument must be a Dataset (or a tuple/dict of datasets); "
                                f"{p.replace('element', 'datasets', 1)} is {type(d).__name__}")
            return d
        self._struct = _map_struct(check, _listless(struct))
        self._inputs = _flatten(self._struct)

    def _elements(self):
        iters = [d._elements() for d in self._inputs]
        for parts in zip(*iters):
            yield _pack(self._struct, parts)

    def _card(self):
        result = INFINITE_CARDINALITY
        for d in self._inputs:
            n = d._card()
            if n == UNKNOWN_CARDINALITY:
                return UNKNOWN_CARDINALITY
            if n == INFINITE_CARDINALITY:
                continue
            if result == INFINITE_CARDINALITY or n < result:
                result = n
        return result

    def _spec(self):
        return _pack(self._struct, [d._spec() for d in self._inputs])


# -- transformations -------------------------------------------------------------------------------
class _Unary(Dataset):
    def __init__(self, inp):
        self._input = inp

    def _card(self):
        return self._input._card()

    def _spec(self):
        return self._input._spec()


class _Map(_Unary):
    def __init__(self, inp, fn):
        super().__init__(inp)
        self._fn = fn

    def _elements(self):
        fn = self._fn
        for e in self._input._elements():
            args = _to_tensors(e)
            out = fn(*args) if type(args) is tuple else fn(args)
            if out is None:
                raise TypeError(f"Dataset.map: map_func {getattr(fn, '__name__', fn)!r} returned None; it must "
                                "return the new element (tensors, arrays or numbers)")
            yield _normalize(out, "Dataset.map: map_func's result")

    def _spec(self):
        return _peek_spec(self, "Dataset.map")


def _predicate_value(value, op):
    arr = value.data if isinstance(value, Tensor) else value
    if isinstance(arr, (bool, np.bool_)):
        return bool(arr)
    if isinstance(arr, np.ndarray) and arr.dtype == np.bool_ and arr.ndim == 0:
        return bool(arr)
    shape = getattr(arr, "shape", None)
    dtype = getattr(arr, "dtype", type(arr).__name__)
    raise ValueError(f"Dataset.{op}: predicate must return a scalar boolean, got {type(value).__name__} "
                     f"(dtype {dtype}, shape {shape})")


class _Filter(_Unary):
    def __init__(self, inp, pred):
        super().__init__(inp)
        self._pred = pred

    def _elements(self):
        pred = self._pred
        for e in self._input._elements():
            args = _to_tensors(e)
            keep = pred(*args) if type(args) is tuple else pred(args)
            if _predicate_value(keep, "filter"):
                yield e

    def _card(self):
        return UNKNOWN_CARDINALITY


class _TakeWhile(_Filter):
    def _elements(self):
        pred = self._pred
        for e in self._input._elements():
            args = _to_tensors(e)
            keep = pred(*args) if type(args) is tuple else pred(args)
            if not _predicate_value(keep, "take_while"):
                return
            yield e


class _Batch(_Unary):
    def __init__(self, inp, batch_size, drop_remainder):
        super().__init__(inp)
        self._bs = batch_size
        self._drop = drop_remainder

    def _elements(self):
        view = self._input._index_view()
        if view is not None:
            leaves, template, plan = view
            for sel in _plan_batches(plan(), self._bs, self._drop):
                yield _pack(template, [a[sel] for a in leaves])
            return
        buf = []
        for e in self._input._elements():
            buf.append(e)
            if len(buf) == self._bs:
                yield _stack(buf)
                buf = []
        if buf and not self._drop:
            yield _stack(buf)

    def _card(self):
        n = self._input._card()
        if n < 0:
            return n
        return n // self._bs if self._drop else -(-n // self._bs)

    def _spec(self):
        lead = self._bs if self._drop else None
        return _map_struct(lambda s, p: TensorSpec(None if s.shape is None else (lead,) + s.shape, s.dtype),
                           self._input._spec())


def _stack(elements):
    first = elements[0]
    flat = [_flatten(e) for e in elements]
    paths = None
    for k, (e, f) in enumerate(zip(elements, flat)):
        if k and not _same_structure(first, e):
            raise TypeError(f"Dataset.batch: element {k} has the structure {_describe(e)} but element 0 has "
                            f"{_describe(first)}")
    cols = []
    for c in range(len(flat[0])):
        col = [f[c] for f in flat]
        s0, d0 = col[0].shape, col[0].dtype
        for k, a in enumerate(col):
            if a.shape != s0 or a.dtype != d0:
                paths = paths or _paths(first)
                what = "shapes" if a.shape != s0 else "dtypes"
                raise ValueError(f"Dataset.batch: cannot batch tensors with different {what} in component "
                                 f"{c} ({paths[c]}): the first element had shape {s0} dtype {d0} and element "
                                 f"{k} had shape {a.shape} dtype {a.dtype}")
        cols.append(np.stack(col))
    return _pack(first, cols)


def _broadcast_struct(value, template, fn, what):
    """``value`` given once for every component, or with ``template``'s structure."""
    if value is None or not isinstance(value, (tuple, list, dict)) or (
            what == "padded_shapes" and isinstance(value, (tuple, list)) and not isinstance(template, tuple)):
        return _map_struct(lambda leaf, p: value, template)
    value = _listless(value) if what != "padded_shapes" else value
    if isinstance(template, tuple):
        if not isinstance(value, (tuple, list)) or len(value) != len(template):
            raise ValueError(f"{fn}: {what} {value!r} does not match the element structure {_describe(template)}")
        kids = [_broadcast_struct(v, t, fn, what) for v, t in zip(value, template)]
        return type(template)._make(kids) if _is_namedtuple(template) else tuple(kids)
    if isinstance(template, dict):
        if not isinstance(value, dict) or set(value) != set(template):
            raise ValueError(f"{fn}: {what} {value!r} does not match the element structure {_describe(template)}")
        return {k: _broadcast_struct(value[k], template[k], fn, what) for k in template}
    return value


class _PaddedBatch(_Batch):
    def __init__(self, inp, batch_size, padded_shapes, padding_values, drop_remainder):
        super().__init__(inp, batch_size, drop_remainder)
        fn = "Dataset.padded_batch"
        spec = inp._spec()
        shapes = _broadcast_struct(padded_shapes, spec, fn, "padded_shapes")
        values = _broadcast_struct(padding_values, spec, fn, "padding_values")

        def shape_of(sh, s, p):
            if sh is None:
                return None if s.shape is None else (None,) * len(s.shape)
            if isinstance(sh, Tensor):
                sh = sh.data.tolist()
            if isinstance(sh, (int, np.integer)) and not isinstance(sh, (bool, np.bool_)):
                sh = (sh,)                     # TF: padded_shapes=5 is the shape [5]
            try:
                dims = tuple(None if d is None or int(d) == -1 else int(d) for d in sh)
            except (TypeError, ValueError):
                raise TypeError(f"{fn}: padded_shapes for {p} must be a shape (a tuple of ints, None or -1), "
                                f"got {sh!r}") from None
            if any(d is not None and d < 0 for d in dims):
                raise ValueError(f"{fn}: padded_shapes for {p} has a negative dimension: {sh!r}")
            if s.shape is not None and len(s.shape) != len(dims):
                raise ValueError(f"{fn}: padded_shapes for {p} is {sh!r} (rank {len(dims)}), but the component has "
                                 f"shape {s.shape} (rank {len(s.shape)})")
            return dims
        flat_spec = _flatten(spec)
        self._shapes = [shape_of(sh, s, p) for sh, s, p in
                        zip(_flatten_shapes(shapes, spec), flat_spec, _paths(spec))]
        self._values = []
        for v, s, p in zip(_flatten(values), flat_spec, _paths(spec)):
            arr = np.zeros((), s.dtype) if v is None else _to_array(v, f"{fn}: padding_values for {p}")
            if arr.ndim != 0:
                raise ValueError(f"{fn}: padding_values for {p} must be a scalar, got shape {arr.shape}")
            self._values.append(arr.astype(s.dtype))
        self._spec_value = _pack(spec, [TensorSpec(None if sh is None else
                                                   (batch_size if drop_remainder else None,) + sh, s.dtype)
                                        for sh, s in zip(self._shapes, flat_spec)])

    def _elements(self):
        buf = []
        for e in self._input._elements():
            buf.append(e)
            if len(buf) == self._bs:
                yield self._pad(buf)
                buf = []
        if buf and not self._drop:
            yield self._pad(buf)

    def _pad(self, elements):
        fn = "Dataset.padded_batch"
        first = elements[0]
        flat = [_flatten(e) for e in elements]
        paths = _paths(first)
        cols = []
        for c, (target, pad) in enumerate(zip(self._shapes, self._values)):
            col = [f[c] for f in flat]
            rank = col[0].ndim
            if any(a.ndim != rank for a in col):
                raise ValueError(f"{fn}: the elements' {paths[c]} have different ranks: "
                                 f"{sorted({a.shape for a in col})}")
            target = target or (None,) * rank
            shape = tuple(max(a.shape[d] for a in col) if t is None else t for d, t in enumerate(target))
            for k, a in enumerate(col):
                if any(n > m for n, m in zip(a.shape, shape)):
                    raise ValueError(f"{fn}: element {k}'s {paths[c]} has shape {a.shape}, larger than the padded "
                                     f"shape {shape}")
            out = np.full((len(col),) + shape, pad, dtype=pad.dtype)
            for k, a in enumerate(col):
                out[(k,) + tuple(slice(0, n) for n in a.shape)] = a
            cols.append(out)
        return _pack(first, cols)

    def _spec(self):
        return self._spec_value


def _flatten_shapes(shapes, spec):
    """Flatten ``padded_shapes`` along ``spec``'s structure (a shape is a tuple itself)."""
    if isinstance(spec, tuple):
        out = []
        for sh, sp in zip(shapes, spec):
            out.extend(_flatten_shapes(sh, sp))
        return out
    if isinstance(spec, dict):
        out = []
        for k in spec:
            out.extend(_flatten_shapes(shapes[k], spec[k]))
        return out
    return [shapes]


class _Unbatch(_Unary):
    def _elements(self):
        for e in self._input._elements():
            leaves = _flatten(e)
            for a, p in zip(leaves, _paths(e)):
                if a.ndim == 0:
                    raise ValueError(f"Dataset.unbatch: {p} is a scalar; unbatching needs at least one axis")
            n = len(leaves[0])
            if any(len(a) != n for a in leaves):
                raise ValueError("Dataset.unbatch: components have different first dimensions: "
                                 + ", ".join(str(a.shape) for a in leaves))
            for i in range(n):
                yield _pack(e, [a[i, ...] for a in leaves])

    def _card(self):
        return UNKNOWN_CARDINALITY if self._input._card() != INFINITE_CARDINALITY else INFINITE_CARDINALITY

    def _spec(self):
        def drop(s, p):
            if s.shape is not None and len(s.shape) == 0:
                raise ValueError(f"Dataset.unbatch: {p} is a scalar; unbatching needs at least one axis")
            return TensorSpec(None if s.shape is None else s.shape[1:], s.dtype)
        return _map_struct(drop, self._input._spec())


class _Shuffle(_Unary):
    def __init__(self, inp, buffer_size, seed, reshuffle):
        super().__init__(inp)
        self._buffer = buffer_size
        self._reshuffle = reshuffle
        if seed is None:
            from .utils import global_rng
            seed = int(global_rng().integers(0, 2 ** 63 - 1))
        self._seed = seed
        self._epoch = 0

    def _next_rng(self):
        k = self._epoch if self._reshuffle else 0
        if not getattr(_STATE, "peeking", False):
            self._epoch += 1
        return np.random.default_rng([self._seed & (2 ** 63 - 1), k])

    def _elements(self):
        view = self._index_view()
        if view is not None:
            yield from _view_elements(view)
            return
        yield from _buffer_shuffle(self._input._elements(), self._buffer, self._next_rng())

    def _index_view(self):
        view = self._input._index_view()
        if view is None:
            return None
        leaves, template, plan = view

        def shuffled():
            out = []
            for i in _buffer_shuffle(_plan_ints(plan()), self._buffer, self._next_rng()):
                out.append(i)
                if len(out) == 4096:
                    yield np.array(out, dtype=np.intp)
                    out = []
            if out:
                yield np.array(out, dtype=np.intp)
        return leaves, template, shuffled


class _Repeat(_Unary):
    def __init__(self, inp, count):
        super().__init__(inp)
        self._count = count

    def _passes(self, one_pass):
        k = 0
        while self._count < 0 or k < self._count:
            empty = True
            for x in one_pass():
                empty = False
                yield x
            if empty:
                return
            k += 1

    def _elements(self):
        view = self._index_view()
        if view is not None:
            return _view_elements(view)
        return self._passes(self._input._elements)

    def _index_view(self):
        view = self._input._index_view()
        if view is None:
            return None
        leaves, template, plan = view
        return leaves, template, lambda: self._passes(plan)

    def _card(self):
        n = self._input._card()
        if self._count < 0:
            return 0 if n == 0 else INFINITE_CARDINALITY
        if self._count == 0:
            return 0
        if n < 0:
            return n
        return n * self._count


class _Take(_Unary):
    def __init__(self, inp, count):
        super().__init__(inp)
        self._count = count

    def _elements(self):
        if self._count < 0:
            return self._input._elements()
        return itertools.islice(self._input._elements(), self._count)

    def _index_view(self):
        view = self._input._index_view()
        if view is None or self._count < 0:
            return view
        leaves, template, plan = view
        return leaves, template, lambda: _plan_take(plan(), self._count)

    def _card(self):
        n = self._input._card()
        if self._count < 0:
            return n
        if n == UNKNOWN_CARDINALITY:
            return n
        if n == INFINITE_CARDINALITY:
            return self._count
        return min(n, self._count)


class _Skip(_Unary):
    def __init__(self, inp, count):
        super().__init__(inp)
        self._count = count

    def _elements(self):
        if self._count < 0:
            return iter(())
        return itertools.islice(self._input._elements(), self._count, None)

    def _index_view(self):
        view = self._input._index_view()
        if view is None:
            return None
        leaves, template, plan = view
        if self._count < 0:
            return leaves, template, lambda: iter(())
        return leaves, template, lambda: _plan_skip(plan(), self._count)

    def _card(self):
        n = self._input._card()
        if n < 0:
            return n
        if self._count < 0:
            return 0
        return max(0, n - self._count)


class _Cache(_Unary):
    def __init__(self, inp):
        super().__init__(inp)
        self._stored = None
        self._stored_plan = None

    def _elements(self):
        if self._stored is not None:
            yield from self._stored
            return
        got = []
        for e in self._input._elements():
            got.append(e)
            yield e
        self._stored = got          # only a complete pass is kept (as TF)

    def _index_view(self):
        view = self._input._index_view()
        if view is None:
            return None
        leaves, template, plan = view

        def cached():
            if self._stored_plan is not None:
                yield from self._stored_plan
                return
            got = []
            for ch in plan():
                got.append(ch)
                yield ch
            self._stored_plan = got
        return leaves, template, cached


class _Concatenate(Dataset):
    def __init__(self, a, b):
        sa, sb = a._spec(), b._spec()
        if not _same_structure(sa, sb):
            raise TypeError(f"Dataset.concatenate: the datasets have different structures: {_describe(sa)} "
                            f"and {_describe(sb)}")
        for x, y, p in zip(_flatten(sa), _flatten(sb), _paths(sa)):
            if x.dtype != y.dtype:
                raise TypeError(f"Dataset.concatenate: {p} has dtype {x.dtype} in the first dataset and "
                                f"{y.dtype} in the second")
        self._a, self._b = a, b
        self._spec_value = _pack(sa, [x._most_specific_common(y) for x, y in zip(_flatten(sa), _flatten(sb))])

    def _elements(self):
        yield from self._a._elements()
        yield from self._b._elements()

    def _card(self):
        na, nb = self._a._card(), self._b._card()
        if UNKNOWN_CARDINALITY in (na, nb):
            return UNKNOWN_CARDINALITY
        if INFINITE_CARDINALITY in (na, nb):
            return INFINITE_CARDINALITY
        return na + nb

    def _spec(self):
        return self._spec_value


class _FlatMap(_Unary):
    def __init__(self, inp, fn):
        super().__init__(inp)
        self._fn = fn

    def _elements(self):
        for e in self._input._elements():
            args = _to_tensors(e)
            ds = self._fn(*args) if type(args) is tuple else self._fn(args)
            if not isinstance(ds, Dataset):
                raise TypeError(f"Dataset.flat_map: map_func must return a Dataset, got {type(ds).__name__}")
            yield from ds._elements()

    def _card(self):
        return UNKNOWN_CARDINALITY

    def _spec(self):
        return _peek_spec(self, "Dataset.flat_map")


class Options:
    """``tf.data.Options``: any attribute may be set (``options.experimental_distribute.auto_shard_policy
    = ...``); nothing here reads them (there is no parallel or distributed input pipeline)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        sub = Options()
        object.__setattr__(self, name, sub)
        return sub


class _Experimental:
    """``tf.data.experimental``'s constants and ``cardinality(dataset)``."""
    AUTOTUNE = AUTOTUNE
    INFINITE_CARDINALITY = INFINITE_CARDINALITY
    UNKNOWN_CARDINALITY = UNKNOWN_CARDINALITY

    @staticmethod
    def cardinality(dataset):
        if not isinstance(dataset, Dataset):
            raise TypeError(f"cardinality: expected a Dataset, got {type(dataset).__name__}")
        return dataset.cardinality()


experimental = _Experimental()
