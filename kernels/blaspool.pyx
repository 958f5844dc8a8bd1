# cython: language_level=3
"""One pool of threads for the kernels and NumPy's BLAS: OpenBLAS's jobs on our OpenMP threads.

OpenBLAS (0.3.27 and later, pthreads build: NumPy's wheels) lets a program run its
threaded jobs itself: ``openblas_set_threads_callback_function(cb)`` makes every threaded
BLAS call hand ``cb`` an array of ``numjobs`` jobs and the function that runs one.  The
jobs of one call wait for each other (a GEMM's threads share their packed panels), so all
of them must run at the same time, on ``numjobs`` different threads.

``_run_jobs`` below runs them in one OpenMP region of exactly ``numjobs`` threads -- the
pool the kernels' ``prange`` loops use -- so that after a matmul no OpenBLAS worker is left
spinning on a core the next batch norm wants (docs/kernels.md, "Threads").  Where OpenMP
cannot promise ``numjobs`` threads at once (inside another active parallel region,
``OMP_DYNAMIC``, a thread limit below ``numjobs``) the jobs go to plain POSIX threads
instead, started for the call: slower, never a deadlock.

``exec_threads(i, job, ...)``, the function OpenBLAS hands over, treats ``i`` as the slot of
one of its own workers: it marks ``thread_status[i]`` busy and then free, and works in
``blas_thread_buffer[i]``.  OpenBLAS's own workers still run jobs that bypass the callback
-- its parallel LU (``?getrf_parallel``, behind ``np.linalg.solve`` / ``inv`` / ``det``)
calls ``exec_blas_async`` directly -- so job ``i`` of a call here must not be given the slot
of a live worker: a concurrent LU in another thread lost its job that way and hung.  The
jobs here take the top slots, ``MAX_THREADS - 1 - i`` (MAX_THREADS from OpenBLAS's config
string), which its workers (``0 ..`` threads ``- 2``) never reach while ``numjobs`` plus
the workers fit (the package installs the callback only when the threads are at most half
of MAX_THREADS).  Those slots' buffers are shared by every call here, so the calls are
serialised by a mutex: two Python threads in BLAS at once take turns (OpenBLAS's own
server shares its workers the same way).

This module only holds the callback and its switch; ``tinygrad_bn._kernels`` finds NumPy's
OpenBLAS, decides when to install it and removes it in a fork() child.
"""
from libc.stdint cimport uintptr_t
from libc.stdlib cimport free, malloc

ctypedef void (*dojob_t)(int, void*, int) noexcept nogil
ctypedef void (*threads_cb_t)(int, dojob_t, int, size_t, void*, int) noexcept nogil
ctypedef void (*set_cb_t)(threads_cb_t) noexcept nogil


cdef extern from "simd.h" nogil:
    # OpenMP's queries (stand-ins in a build without OpenMP, where no region ever has numjobs
    # threads and the jobs go to POSIX threads -- though the package never installs the
    # callback there), and the region itself, in C: see simd.h, section 5 (Cython's parallel
    # blocks release and re-take the GIL, which OpenBLAS's caller may hold)
    int omp_get_active_level()
    int omp_get_dynamic()
    int omp_get_thread_limit()
    int tgbn_run_jobs_omp(dojob_t dojob, int numjobs, size_t elsize, char* base, int dojob_data,
                          int slot0)


cdef extern from "<pthread.h>" nogil:
    ctypedef struct pthread_mutex_t:
        pass
    ctypedef unsigned long pthread_t
    int pthread_mutex_init(pthread_mutex_t* m, void* attr)
    int pthread_mutex_lock(pthread_mutex_t* m)
    int pthread_mutex_unlock(pthread_mutex_t* m)
    int pthread_create(pthread_t* t, void* attr, void* (*start)(void*) noexcept nogil, void* arg)
    int pthread_join(pthread_t t, void** ret)


ctypedef struct _Job:
    dojob_t dojob
    int slot
    void* data
    int dojob_data


cdef set_cb_t _set_callback = NULL       # OpenBLAS's setter (found by the package)
cdef int _slots = 0                      # OpenBLAS's MAX_THREADS: jobs take slots _slots-1, _slots-2, ...
cdef bint _installed = False
cdef pthread_mutex_t _lock
cdef unsigned long long _calls = 0       # threaded BLAS calls run here (under _lock)
cdef unsigned long long _fallbacks = 0   # ... of which on POSIX threads

pthread_mutex_init(&_lock, NULL)


cdef void* _job_main(void* arg) noexcept nogil:
    cdef _Job* job = <_Job*>arg
    job.dojob(job.slot, job.data, job.dojob_data)
    return NULL


cdef inline int _slot0(int numjobs) noexcept nogil:
    # job i runs in slot slot0 - i (module docstring); -1: in slot i, the workers' own, when
    # the jobs would not fit above them
    return _slots - 1 if 2 * numjobs <= _slots else -1


cdef void _run_on_pthreads(dojob_t dojob, int numjobs, size_t elsize, char* base, int dojob_data,
                           int slot0) noexcept nogil:
    # Jobs 1..numjobs-1 on fresh POSIX threads, job 0 here.  Should a thread not start, its job
    # runs here after the others (it may then wait for them: a hang is possible only when the
    # system refuses threads).
    cdef _Job* jobs = <_Job*>malloc(numjobs * sizeof(_Job))
    cdef pthread_t* tids = <pthread_t*>malloc(numjobs * sizeof(pthread_t))
    cdef char* started = <char*>malloc(numjobs)
    cdef int i
    if jobs == NULL or tids == NULL or started == NULL:
        free(jobs)
        free(tids)
        free(started)
        for i in range(numjobs):
            dojob(slot0 - i if slot0 >= 0 else i, base + <size_t>i * elsize, dojob_data)
        return
    for i in range(numjobs):
        jobs[i].dojob = dojob
        jobs[i].slot = slot0 - i if slot0 >= 0 else i
        jobs[i].data = base + <size_t>i * elsize
        jobs[i].dojob_data = dojob_data
        started[i] = 0
    for i in range(1, numjobs):
        started[i] = pthread_create(&tids[i], NULL, _job_main, &jobs[i]) == 0
    _job_main(&jobs[0])
    for i in range(1, numjobs):
        if started[i]:
            pthread_join(tids[i], NULL)
        else:
            _job_main(&jobs[i])
    free(jobs)
    free(tids)
    free(started)


cdef void _run_jobs(int sync, dojob_t dojob, int numjobs, size_t elsize, void* jobdata,
                    int dojob_data) noexcept nogil:
    """OpenBLAS's threads callback: run ``numjobs`` jobs at once, job ``i`` on thread ``i``."""
    cdef char* base = <char*>jobdata
    cdef bint ran = False
    cdef int slot0 = _slot0(numjobs)
    global _calls, _fallbacks
    if numjobs <= 0:
        return
    pthread_mutex_lock(&_lock)
    if numjobs == 1:
        dojob(slot0 if slot0 >= 0 else 0, jobdata, dojob_data)   # the slot's buffer is shared: locked
    else:
        _calls += 1
        if (omp_get_active_level() == 0 and not omp_get_dynamic()
                and numjobs <= omp_get_thread_limit()):
            ran = tgbn_run_jobs_omp(dojob, numjobs, elsize, base, dojob_data, slot0)
        if not ran:
            _fallbacks += 1
            _run_on_pthreads(dojob, numjobs, elsize, base, dojob_data, slot0)
    pthread_mutex_unlock(&_lock)


def _attach(uintptr_t setter, int slots):
    """Remember OpenBLAS's ``set_threads_callback_function`` (its address; 0 forgets it) and its
    MAX_THREADS (``slots``, the size of its per-worker arrays)."""
    global _set_callback, _slots
    if _installed:
        raise RuntimeError("blaspool._attach: the callback is installed; uninstall() first")
    if slots < 2:
        raise ValueError(f"blaspool._attach: slots must be >= 2, got {slots}")
    _set_callback = <set_cb_t>setter
    _slots = slots


def install():
    """Route OpenBLAS's threaded calls through ``_run_jobs``; True when installed."""
    global _installed
    if _set_callback == NULL:
        return False
    _set_callback(_run_jobs)
    _installed = True
    return True


def uninstall():
    """Give OpenBLAS its own threads back."""
    global _installed
    if _set_callback != NULL and _installed:
        _set_callback(NULL)
    _installed = False


def installed():
    return _installed


def stats():
    """``{'calls': threaded BLAS calls run here, 'fallbacks': of which on POSIX threads}``."""
    return {"calls": _calls, "fallbacks": _fallbacks}


def _after_fork_in_child():
    # Only the forking thread exists in the child: libgomp's pool is gone (a region would wait
    # for it forever) and _lock may be held by a thread that no longer exists.  OpenBLAS's own
    # server re-creates its workers after fork by itself.
    pthread_mutex_init(&_lock, NULL)
    uninstall()
