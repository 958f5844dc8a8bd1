"""Build the Cython parts of tinygrad_bn.

Two kinds of compiled modules:

* ``kernels/*.pyx``  -> ``tinygrad_bn._kernels.<name>``: pure loops over typed
  memoryviews (batch norm, softmax cross-entropy, optimizer updates).
* ``tinygrad_bn/_engine.pyx`` -> ``tinygrad_bn._engine``: the Tensor, the tape
  record and the backward walk (the per-op hot path).

Compiler directives are set once, here.  ``TINYGRAD_BN_DEBUG=1`` turns bounds
checks, wraparound and initialisation checks back on (and drops -O3), for
hunting a kernel bug.  OpenMP is used when the compiler accepts ``-fopenmp``
and skipped cleanly otherwise (``prange`` then runs serially).

The build is fast and says what it does:

* Cython runs only when ``pip`` builds (not while it asks for metadata), and
  only on ``.pyx`` files newer than their ``.c``; the extensions compile in
  parallel (one job per CPU; ``TINYGRAD_BN_BUILD_JOBS=N`` to change it).
* An extension whose compiled module in the source tree (``tinygrad_bn/...so``,
  where an editable install puts it) is newer than its sources and headers and
  was built with the same flags, Python, Cython and NumPy (recorded in
  ``build/tinygrad_bn-stamps/``) is reused, not recompiled: a second
  ``pip install -e .`` takes seconds.
* Progress lines (``tinygrad_bn: compiling kernels/batchnorm.pyx ...``) go to the
  terminal (``/dev/tty``) because pip hides a build's output unless ``-v``; with
  no terminal they go to stderr.  ``TINYGRAD_BN_BUILD_TTY=0`` keeps them on stderr.

``TINYGRAD_BN_BUILD_ONLY=engine|kernels|batchnorm|...`` builds one group or one kernel module (development only,
with ``python setup.py build_ext --inplace``).
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("TINYGRAD_BN_DEBUG", "") not in ("", "0")
HERE = os.path.dirname(os.path.abspath(__file__))
STAMPS = os.path.join("build", "tinygrad_bn-stamps")
_T0 = time.perf_counter()


def say(msg):
    """One progress line where the user sees it (pip captures the build's stdout/stderr)."""
    line = f"tinygrad_bn: {msg}"
    if os.environ.get("TINYGRAD_BN_BUILD_TTY", "1") != "0" and not sys.stderr.isatty():
        try:
            with open("/dev/tty", "w") as tty:
                tty.write("\r" + line + "\n")      # one write: parallel jobs do not interleave
            return
        except OSError:
            pass
    sys.stderr.write(line + "\n")          # one write: parallel jobs do not interleave within a line
    sys.stderr.flush()


def openmp_flags():
    """Return (compile_args, link_args) for OpenMP, or empty lists when unsupported."""
    if os.environ.get("TINYGRAD_BN_NO_OPENMP"):
        return [], []
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc.split()[0]) is None:
        return [], []
    src = "#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n"
    with tempfile.TemporaryDirectory() as tmp:
        c_file = os.path.join(tmp, "t.c")
        with open(c_file, "w") as fh:
            fh.write(src)
        try:
            res = subprocess.run(
                cc.split() + ["-fopenmp", c_file, "-o", os.path.join(tmp, "t")],
                capture_output=True,
                timeout=60,
            )
        except (OSError, subprocess.SubprocessError):
            return [], []
    if res.returncode != 0:
        say("compiler has no OpenMP; kernels will run single-threaded")
        return [], []
    return ["-fopenmp"], ["-fopenmp"]


def extensions():
    """The Extension list (sources are the .pyx; Cython runs in build_ext)."""
    depends = sorted(glob.glob("kernels/*.h") + glob.glob("kernels/*.pxd") + glob.glob("tinygrad_bn/*.pxd"))
    exts = [Extension("tinygrad_bn._engine", ["tinygrad_bn/_engine.pyx"], depends=depends)]
    for path in sorted(glob.glob("kernels/*.pyx")):
        name = os.path.splitext(os.path.basename(path))[0]
        exts.append(Extension(f"tinygrad_bn._kernels.{name}", [path], depends=depends))
    # TINYGRAD_BN_BUILD_ONLY=engine|kernels|<kernel module> builds one group in place (development only).
    only = os.environ.get("TINYGRAD_BN_BUILD_ONLY", "")
    if only == "engine":
        exts = exts[:1]
    elif only == "kernels":
        exts = exts[1:]
    elif only:
        exts = [e for e in exts if e.name == f"tinygrad_bn._kernels.{only}"]
        if not exts:
            raise SystemExit(f"TINYGRAD_BN_BUILD_ONLY={only!r}: not engine, kernels or a module of kernels/")
    return exts


directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}


def _jobs():
    try:
        return max(1, int(os.environ.get("TINYGRAD_BN_BUILD_JOBS", "0"))) if os.environ.get(
            "TINYGRAD_BN_BUILD_JOBS") else (os.cpu_count() or 1)
    except ValueError:
        return os.cpu_count() or 1


class BuildExt(build_ext):
    """Cythonize lazily, compile in parallel, reuse up-to-date modules, and say so."""

    def finalize_options(self):
        super().finalize_options()
        if not self.parallel:
            self.parallel = _jobs()

    def run(self):
        import Cython
        import numpy as np
        from Cython.Build import cythonize

        # our own up-to-date checks (_cython_stale, _reusable) decide; distutils' would look at a fresh temp dir
        self._user_force, self.force = self.force, True
        omp_compile, omp_link = openmp_flags()
        opt = ["-O0", "-g"] if DEBUG else ["-O3"]
        # errno is never read after libm calls; without this GCC cannot inline/vectorise exp/sqrt.
        opt.append("-fno-math-errno")
        for ext in self.extensions:
            ext.include_dirs = [np.get_include(), "kernels"] + list(ext.include_dirs)
            ext.define_macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")] + list(ext.define_macros)
            ext.extra_compile_args = opt + omp_compile + list(ext.extra_compile_args)
            ext.extra_link_args = omp_link + list(ext.extra_link_args)
        self._pyx = {ext.name: ext.sources[0] for ext in self.extensions}
        # Our own staleness test for Cython: cythonize's would also look at the .pxd files of
        # numpy and Cython itself, which pip's fresh build environment always makes look new.
        cy_stamp = json.dumps({"cython": Cython.__version__, "directives": directives}, sort_keys=True)
        stale = [e for e in self.extensions if self._cython_stale(e, cy_stamp)]
        if stale:
            say(f"cythonizing {', '.join(self._pyx[e.name] for e in stale)} ...")
            t0 = time.perf_counter()
            made = cythonize(stale, compiler_directives=directives, quiet=True, force=True,
                             nthreads=self.parallel if len(stale) > 1 else 0)
            # keep setuptools' own Extension objects (finalize_options annotated them); take the .c sources
            by_name = {e.name: e for e in made}
            for ext in stale:
                ext.sources = list(by_name[ext.name].sources)
                self._write(self._stamp_file(ext, "cython"), cy_stamp)
            say(f"cythonized in {time.perf_counter() - t0:.1f} s")
        for ext in self.extensions:
            ext.sources = [p[:-4] + ".c" if p.endswith(".pyx") else p for p in ext.sources]
        self._stamp_base = {"python": sys.version, "cython": Cython.__version__, "numpy": np.__version__,
                            "cc": os.environ.get("CC", ""), "cflags": os.environ.get("CFLAGS", "")}
        self._np_include = np.get_include()
        todo = [e.name for e in self.extensions if not self._reusable(e)]
        if todo:
            say(f"compiling {len(todo)} extension(s) with {min(self.parallel, len(todo))} parallel job(s): "
                f"{', '.join(self._pyx[n] for n in todo)} (about a minute on 2 cores)")
        super().run()
        say(f"build done in {time.perf_counter() - _T0:.1f} s")

    # -- reuse --------------------------------------------------------------
    def _inplace_path(self, ext):
        return os.path.join(HERE, *ext.name.split(".")) + sysconfig.get_config_var("EXT_SUFFIX")

    def _stamp(self, ext):
        return json.dumps(dict(self._stamp_base, args=ext.extra_compile_args, link=ext.extra_link_args,
                               macros=ext.define_macros,
                               # numpy's include dir lives in pip's throw-away build env: its version is recorded
                               include=[d for d in ext.include_dirs if d != self._np_include]), sort_keys=True)

    def _stamp_file(self, ext, kind="build"):
        return os.path.join(HERE, STAMPS, f"{ext.name}.{kind}.json")

    @staticmethod
    def _write(path, text):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(text)

    @staticmethod
    def _read(path):
        try:
            with open(path) as fh:
                return fh.read()
        except OSError:
            return None

    def _cython_stale(self, ext, cy_stamp):
        pyx = self._pyx[ext.name]
        c_file = pyx[:-4] + ".c"
        if self._user_force or not os.path.exists(c_file) or self._read(self._stamp_file(ext, "cython")) != cy_stamp:
            return True
        local = [pyx] + list(ext.depends) + glob.glob("kernels/*.pxi")
        return max(os.path.getmtime(p) for p in local if os.path.exists(p)) > os.path.getmtime(c_file)

    def _reusable(self, ext):
        if self._user_force:
            return False
        so = self._inplace_path(ext)
        if not os.path.exists(so):
            return False
        newest = max(os.path.getmtime(p) for p in list(ext.sources) + list(ext.depends) + [self._pyx[ext.name]]
                     if os.path.exists(p))
        if os.path.getmtime(so) < newest:
            return False
        return self._read(self._stamp_file(ext)) == self._stamp(ext)

    def build_extension(self, ext):
        target = self.get_ext_fullpath(ext.name)
        if self._reusable(ext):
            if os.path.abspath(target) != os.path.abspath(self._inplace_path(ext)):
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copy2(self._inplace_path(ext), target)
            say(f"{self._pyx[ext.name]} is up to date (reusing {os.path.relpath(self._inplace_path(ext), HERE)})")
            return
        say(f"compiling {self._pyx[ext.name]} ...")
        t0 = time.perf_counter()
        super().build_extension(ext)
        self._write(self._stamp_file(ext), self._stamp(ext))
        say(f"compiled {self._pyx[ext.name]} in {time.perf_counter() - t0:.1f} s")


setup(
    ext_modules=extensions(),
    cmdclass={"build_ext": BuildExt},
)
