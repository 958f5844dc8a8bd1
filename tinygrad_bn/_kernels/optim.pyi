import numpy as np
from numpy.typing import ArrayLike, NDArray

_Arr = NDArray[np.float32] | NDArray[np.float64]

def sgd_update(param: _Arr, grad: ArrayLike, velocity: _Arr | None, lr: float, momentum: float,
               nesterov: bool) -> None: ...
def rmsprop_update(param: _Arr, grad: ArrayLike, ms: _Arr, mom: _Arr | None, lr: float, rho: float,
                   momentum: float, epsilon: float) -> None: ...
def adam_update(param: _Arr, grad: ArrayLike, m: _Arr, v: _Arr, vhat: _Arr | None, alpha: float,
                beta_1: float, beta_2: float, epsilon: float) -> None: ...
