# A caching allocator for NumPy array data (NEP 49), active only inside the project's own
# scopes (tinygrad_bn.memory.scope: the tape, gradient(), apply_gradients, fit ...).
#
# Why: a training step allocates and frees the same few large arrays (activations,
# gradients) every step.  glibc serves blocks above its mmap threshold with fresh mmaps,
# or trims its heap when a run of them is freed, so each step pays page faults for memory
# it has just given back: ~4000 faults (16 MB zeroed by the kernel) per step of the
# issue-9 MLP at batch 4096, a 1.75x slower step.  This allocator keeps freed blocks of
# 128 KiB or more (up to `limit` bytes, 256 MiB by default) and hands them out again for
# the same size.  It is a NumPy memory *handler* set in a context variable by NumPy's
# PyDataMem_SetHandler, so it applies only to arrays allocated inside a scope, in that
# thread or task; arrays keep their handler, so they are freed back here wherever they
# die.  Nothing else in the process changes (unlike mallopt).
#
# Blocks carry a 64-byte header holding their size (NumPy passes a size to free, but
# the header makes the cache independent of it).  One lock (a PyThread lock, which needs
# no GIL) guards the cache.

from cpython.pycapsule cimport PyCapsule_New
from cpython.pythread cimport (PyThread_type_lock, PyThread_allocate_lock, PyThread_acquire_lock,
                               PyThread_release_lock, WAIT_LOCK)
from libc.stdint cimport uint8_t
from libc.stdlib cimport calloc as c_calloc, free as c_free, malloc as c_malloc
from libc.string cimport memcpy, memset, strncpy

cimport numpy as cnp

cnp.import_array()

cdef extern from "numpy/ndarraytypes.h":
    ctypedef struct PyDataMemAllocator:
        void* ctx
        void* (*malloc)(void* ctx, size_t size) noexcept nogil
        void* (*calloc)(void* ctx, size_t nelem, size_t elsize) noexcept nogil
        void* (*realloc)(void* ctx, void* ptr, size_t new_size) noexcept nogil
        void (*free)(void* ctx, void* ptr, size_t size) noexcept nogil
    ctypedef struct PyDataMem_Handler:
        char name[127]
        uint8_t version
        PyDataMemAllocator allocator

cdef extern from "numpy/arrayobject.h":
    object PyDataMem_SetHandler(object handler)

cdef enum:
    HDR = 64            # header bytes before each block (keeps NumPy's 16-byte alignment)
    NSLOTS = 128        # cached blocks at most

cdef size_t MIN_CACHED = 128 * 1024
cdef size_t limit = 256 * 1024 * 1024
cdef size_t cached = 0
cdef Py_ssize_t nslots = 0
cdef void* slot_ptr[NSLOTS]
cdef size_t slot_size[NSLOTS]
cdef size_t hits = 0, misses = 0
cdef PyThread_type_lock lock = PyThread_allocate_lock()
cdef PyDataMem_Handler handler_struct


cdef inline void* _raw_alloc(size_t size, bint zero) noexcept nogil:
    cdef char* raw
    if size > <size_t>-1 - HDR:
        return NULL
    raw = <char*>(c_calloc(1, size + HDR) if zero else c_malloc(size + HDR))
    if raw == NULL:
        return NULL
    (<size_t*>raw)[0] = size
    return raw + HDR


cdef inline size_t _size_of(void* ptr) noexcept nogil:
    return (<size_t*>(<char*>ptr - HDR))[0]


cdef void* _take(size_t size) noexcept nogil:
    """A cached block of exactly ``size`` bytes, or NULL."""
    global nslots, cached, hits, misses
    cdef void* p = NULL
    cdef Py_ssize_t i
    PyThread_acquire_lock(lock, WAIT_LOCK)
    i = nslots - 1
    while i >= 0:                   # newest first: the block most likely still in cache
        if slot_size[i] == size:
            p = slot_ptr[i]
            nslots -= 1
            slot_ptr[i] = slot_ptr[nslots]
            slot_size[i] = slot_size[nslots]
            cached -= size
            hits += 1
            break
        i -= 1
    if p == NULL:
        misses += 1
    PyThread_release_lock(lock)
    return p


cdef void* t_malloc(void* ctx, size_t size) noexcept nogil:
    cdef void* p
    if size >= MIN_CACHED:
        p = _take(size)
        if p != NULL:
            return p
    return _raw_alloc(size, False)


cdef void* t_calloc(void* ctx, size_t nelem, size_t elsize) noexcept nogil:
    cdef size_t size
    cdef void* p
    if elsize != 0 and nelem > (<size_t>-1) // elsize:
        return NULL
    size = nelem * elsize
    if size >= MIN_CACHED:
        p = _take(size)
        if p != NULL:
            memset(p, 0, size)
            return p
    return _raw_alloc(size, True)


cdef void t_free(void* ctx, void* ptr, size_t size) noexcept nogil:
    global nslots, cached
    cdef size_t real
    cdef bint kept = False
    if ptr == NULL:
        return
    real = _size_of(ptr)
    if real >= MIN_CACHED:
        PyThread_acquire_lock(lock, WAIT_LOCK)
        if nslots < NSLOTS and cached + real <= limit:
            slot_ptr[nslots] = ptr
            slot_size[nslots] = real
            nslots += 1
            cached += real
            kept = True
        PyThread_release_lock(lock)
    if not kept:
        c_free(<char*>ptr - HDR)


cdef void* t_realloc(void* ctx, void* ptr, size_t new_size) noexcept nogil:
    cdef void* p
    cdef size_t old
    if ptr == NULL:
        return t_malloc(ctx, new_size)
    old = _size_of(ptr)
    if new_size == old:
        return ptr
    p = t_malloc(ctx, new_size)
    if p == NULL:
        return NULL
    memcpy(p, ptr, old if old < new_size else new_size)
    t_free(ctx, ptr, old)
    return p


strncpy(handler_struct.name, b"tinygrad_bn_cache", 127)
handler_struct.version = 1
handler_struct.allocator.ctx = NULL
handler_struct.allocator.malloc = t_malloc
handler_struct.allocator.calloc = t_calloc
handler_struct.allocator.realloc = t_realloc
handler_struct.allocator.free = t_free

#: The NumPy memory handler (a "mem_handler" capsule), for ``PyDataMem_SetHandler``.
handler = PyCapsule_New(&handler_struct, b"mem_handler", NULL)


def activate():
    """Make this allocator NumPy's handler in the current context; returns the previous one."""
    return PyDataMem_SetHandler(handler)


def restore(previous):
    """Put back the handler :func:`activate` returned."""
    PyDataMem_SetHandler(previous)


def release():
    """Free every cached block; returns the bytes given back."""
    global nslots, cached
    cdef Py_ssize_t i
    cdef size_t freed
    with nogil:
        PyThread_acquire_lock(lock, WAIT_LOCK)
        freed = cached
        for i in range(nslots):
            c_free(<char*>slot_ptr[i] - HDR)
        nslots = 0
        cached = 0
        PyThread_release_lock(lock)
    return freed


def set_limit(size_t nbytes):
    """Cache at most ``nbytes`` of freed blocks (0 disables the cache); returns the old limit.
    Blocks above a lowered limit are freed."""
    global limit
    cdef size_t old = limit
    limit = nbytes
    if cached > limit:
        release()
    return old


def stats():
    """``{'cached_bytes', 'cached_blocks', 'hits', 'misses', 'limit'}`` (misses: allocations of
    128 KiB or more that no cached block served)."""
    return {"cached_bytes": cached, "cached_blocks": nslots, "hits": hits, "misses": misses,
            "limit": limit}


def _after_fork_in_child():
    # the lock may have been held by another thread of the parent at the fork
    global lock
    lock = PyThread_allocate_lock()
