# ruff: noqa: I001  (nasdqn first: importing it pins the math kernels before torch and numpy load)
import nasdqn  # noqa: F401
import torch

# Tests, like runs, use one torch thread: results must not depend on the thread count.
torch.set_num_threads(1)
