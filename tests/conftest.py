import os

import pytest
import torch

# CI and developer machines have 2 cores; keep tests from oversubscribing them.
torch.set_num_threads(int(os.environ.get('LOSA_TEST_THREADS', '1')))

import losa_plugin  # noqa: E402,F401  (applies compat and registers components)

SHARED_DATA = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'data'))


def pytest_collection_modifyitems(config, items):
    """The slow end-to-end tests first, the longest first: with `-n 2` (tools/run_tests.sh)
    a long test started last would keep one worker busy after the other ran out."""
    def cost(item):
        mark = item.get_closest_marker('slow')
        return -mark.kwargs.get('cpu_s', 1) if mark is not None else 0
    items.sort(key=cost)  # stable: the rest keep their order


# ------------------------------------------------------------------ CPU time per test
# `--cpu-durations N` lists the N tests that used the most CPU time (this process and
# the subprocesses it waited for; setup + call + teardown). On a shared machine wall
# times (`--durations`) vary with the load; CPU times much less.
def _cpu_seconds() -> float:
    import resource
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def pytest_addoption(parser):
    parser.addoption('--cpu-durations', type=int, default=None, metavar='N',
                     help='list the N tests with the most CPU time (incl. subprocesses)')


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    cpu = item.stash.get(_CPU_KEY, {}).get(call.when)
    if cpu is not None:
        outcome.get_result().user_properties.append(('cpu_s', cpu))


def _timed(phase):
    @pytest.hookimpl(hookwrapper=True)
    def hook(item, *args):
        start = _cpu_seconds()
        yield
        item.stash.setdefault(_CPU_KEY, {})[phase] = _cpu_seconds() - start
    return hook


_CPU_KEY = pytest.StashKey()
pytest_runtest_setup = _timed('setup')
pytest_runtest_call = _timed('call')
pytest_runtest_teardown = _timed('teardown')


def pytest_terminal_summary(terminalreporter, config):
    top = config.getoption('cpu_durations')
    if top is None:
        return
    per_test = {}
    for reports in terminalreporter.stats.values():
        for r in reports:
            for key, value in getattr(r, 'user_properties', ()):
                if key == 'cpu_s':
                    per_test[r.nodeid] = per_test.get(r.nodeid, 0.0) + value
    ranked = sorted(per_test.items(), key=lambda kv: -kv[1])
    terminalreporter.write_sep('=', f'most CPU time (total {sum(per_test.values()):.0f} s '
                                    f'over {len(per_test)} tests)')
    for nodeid, seconds in ranked[:top or len(ranked)]:
        terminalreporter.write_line(f'{seconds:8.2f}s cpu  {nodeid}')
