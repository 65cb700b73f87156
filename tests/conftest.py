import torch

# Tests, like runs, use one torch thread: results must not depend on the thread count.
torch.set_num_threads(1)
