import numpy as np
from numpy.typing import NDArray

# logits / labels: NumPy arrays (copied when not C-contiguous, aligned and native-endian);
# grad (N, C) of the logits' dtype and loss float64 (N,): C-contiguous, aligned, writeable,
# filled in place.  Both return the sum of the per-row losses (in row order).

def select_isa(baseline: bool = ...) -> int: ...
def ce_forward_sparse(logits: NDArray[np.float32] | NDArray[np.float64],
                      labels: NDArray[np.int32] | NDArray[np.int64],
                      label_smoothing: float, scale: float,
                      grad: NDArray[np.float32] | NDArray[np.float64],
                      loss: NDArray[np.float64]) -> float: ...
def ce_forward_dense(logits: NDArray[np.float32] | NDArray[np.float64],
                     labels: NDArray[np.float32] | NDArray[np.float64], label_smoothing: float,
                     scale: float, grad: NDArray[np.float32] | NDArray[np.float64],
                     loss: NDArray[np.float64]) -> float: ...
def expf_vec(x: NDArray[np.float32], out: NDArray[np.float32]) -> None: ...
def logf_vec(x: NDArray[np.float32], out: NDArray[np.float32]) -> None: ...
