import os

import torch

# CI and developer machines have 2 cores; keep tests from oversubscribing them.
torch.set_num_threads(int(os.environ.get('LOSA_TEST_THREADS', '1')))

import losa_plugin  # noqa: E402,F401  (applies compat and registers components)

SHARED_DATA = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'data'))
