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
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("TINYGRAD_BN_DEBUG", "") not in ("", "0")


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
        print("tinygrad_bn: compiler has no OpenMP; kernels will run single-threaded", file=sys.stderr)
        return [], []
    return ["-fopenmp"], ["-fopenmp"]


omp_compile, omp_link = openmp_flags()
opt = ["-O0", "-g"] if DEBUG else ["-O3"]
# errno is never read after libm calls; without this GCC cannot inline/vectorise exp/sqrt.
opt.append("-fno-math-errno")
common = dict(
    include_dirs=[np.get_include(), "kernels"],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    extra_compile_args=opt + omp_compile,
    extra_link_args=omp_link,
)

extensions = [Extension("tinygrad_bn._engine", ["tinygrad_bn/_engine.pyx"], **common)]
for path in sorted(glob.glob("kernels/*.pyx")):
    name = os.path.splitext(os.path.basename(path))[0]
    extensions.append(Extension(f"tinygrad_bn._kernels.{name}", [path], **common))

# TINYGRAD_BN_BUILD_ONLY=engine|kernels builds one group in place (development only).
_only = os.environ.get("TINYGRAD_BN_BUILD_ONLY", "")
if _only == "engine":
    extensions = extensions[:1]
elif _only == "kernels":
    extensions = extensions[1:]

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

setup(
    ext_modules=cythonize(extensions, compiler_directives=directives, quiet=True),
)
