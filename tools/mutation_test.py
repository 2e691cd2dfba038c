#!/usr/bin/env python
"""Mutation testing of chosen modules with chosen tests (mutmut 3); not part of CI.

The files of HEAD (or, with ``--worktree``, of the working tree) are copied into a
scratch directory (``../shared`` is linked where the tests look for
it), mutmut is configured there through a ``setup.cfg`` and run, and the
outcome is summarised: mutants per status, the kill rate (killed + timeout over all
mutants that ran) and the diff of every survivor. The shared working tree is never
touched. See docs/testing.md for the runs, their kill rates and the survivors.

Examples::

    .venv/bin/pip install mutmut          # once; not a test requirement
    .venv/bin/python tools/mutation_test.py losa_plugin/utils/time_grid.py \\
        losa_plugin/models/detectors/tal_detector.py \\
        --tests tests/test_mutation_detector_predict.py --json work_dirs/mutation/time_grid.json

Keep runs bounded (2 shared cores): choose the fastest tests that exercise the module;
mutmut only runs, for each mutant, the selected tests that call the mutated function.
"""
import argparse
import fnmatch
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
KILLED = ('killed', 'timeout')   # a timeout means the mutant broke the code
NOT_RUN = ('skipped', 'not checked', 'no tests', 'suspicious', 'segfault')


def _tracked(worktree: bool) -> list:
    """Files of HEAD, or with ``worktree`` the working tree's (tracked and untracked,
    not ignored)."""
    cmd = (['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard']
           if worktree else ['git', 'ls-tree', '-r', '-z', '--name-only', 'HEAD'])
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True).stdout
    return [f for f in out.decode().split('\0') if f]


def _copy_tree(dest: str, worktree: bool) -> None:
    """HEAD (default: a consistent state while others edit the shared tree) or the
    working tree as it is now, into ``dest``."""
    os.makedirs(dest)
    if not worktree:
        archive = subprocess.run(['git', 'archive', 'HEAD'], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(['tar', '-x', '-C', dest], input=archive, check=True)
        return
    for rel in _tracked(True):
        src = osp.join(ROOT, rel)
        if not osp.isfile(src):  # deleted in the working tree
            continue
        os.makedirs(osp.dirname(osp.join(dest, rel)), exist_ok=True)
        shutil.copy2(src, osp.join(dest, rel))


def _write_config(dest: str, modules: list, tests: list, max_stack_depth: int,
                  debug: bool, worktree: bool) -> None:
    lines = ['[mutmut]', 'source_paths=losa_plugin', 'only_mutate=']
    lines += [f'    {m}' for m in modules]
    lines += ['pytest_add_cli_args_test_selection='] + [f'    {t}' for t in tests]
    # the tests read configs/, tools/ ... relative to their own directory (mutants/)
    top = sorted({f.split('/')[0] for f in _tracked(worktree)} - {'losa_plugin', 'tests'})
    lines += ['also_copy='] + [f'    {t}' for t in top]
    lines += ['pytest_add_cli_args=', '    -p', '    no:cacheprovider', '    -q',
              # torch is not fork-safe once it has run: fork workers from a clean server
              'process_isolation=forkserver', 'use_git_change_detection=false',
              f'max_stack_depth={max_stack_depth}', f'debug={str(debug).lower()}']
    with open(osp.join(dest, 'setup.cfg'), 'w') as f:
        f.write('\n'.join(lines) + '\n')


def _results(mutmut: str, cwd: str, env: dict) -> dict:
    """``{mutant name: status}`` from ``mutmut results --all true``."""
    out = subprocess.run([mutmut, 'results', '--all', 'true'], cwd=cwd, env=env,
                         capture_output=True, text=True, check=True).stdout
    status = {}
    for line in out.splitlines():
        m = re.match(r'\s*(\S+):\s*(.+?)\s*$', line)
        if m and '__mutmut_' in m.group(1):
            status[m.group(1)] = m.group(2)
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('modules', nargs='+', help='files to mutate, relative to the repo')
    parser.add_argument('--tests', nargs='+', required=True,
                        help='pytest selection (files or node ids) run against each mutant')
    parser.add_argument('--mutants', nargs='+', default=[],
                        help="only these mutmut mutant names / globs, e.g. "
                             "'losa_plugin.benchmark.memory_estimate.x_estimate_memory*'")
    parser.add_argument('--deselect', nargs='+', default=[],
                        help='pytest node ids left out of the selection (slow or flaky)')
    parser.add_argument('--jobs', type=int, default=1, help='mutmut --max-children')
    parser.add_argument('--max-stack-depth', type=int, default=-1,
                        help="mutmut's max_stack_depth: only tests that reach a function "
                             'within this many frames count as covering it (-1: any)')
    parser.add_argument('--workdir', help='scratch directory (default: a new temp dir, '
                        'removed afterwards unless --keep)')
    parser.add_argument('--keep', action='store_true', help='keep the scratch copy')
    parser.add_argument('--worktree', action='store_true',
                        help='mutate the working tree as it is (tracked and untracked files) '
                             'instead of HEAD')
    parser.add_argument('--debug', action='store_true', help="mutmut's debug output")
    parser.add_argument('--json', help='write the summary (statuses, survivors) here')
    args = parser.parse_args()

    for m in args.modules:
        if not (m.startswith('losa_plugin/') and m.endswith('.py') and osp.isfile(osp.join(ROOT, m))):
            parser.error(f'module {m!r}: expected an existing losa_plugin/....py file')
    mutmut = osp.join(osp.dirname(sys.executable), 'mutmut')
    if not osp.isfile(mutmut):
        parser.error(f'mutmut not found next to {sys.executable}; pip install mutmut')

    scratch = args.workdir or tempfile.mkdtemp(prefix='losa_mutation_')
    os.makedirs(scratch, exist_ok=True)
    dest = osp.join(scratch, 'main')
    if osp.exists(dest):
        shutil.rmtree(dest)
    _copy_tree(dest, args.worktree)
    # mutmut runs the tests in dest/mutants/tests: their '../../shared' is dest/shared
    shared = osp.join(osp.dirname(ROOT), 'shared')
    if osp.isdir(shared):
        os.symlink(shared, osp.join(dest, 'shared'))
    selection = list(args.tests) + [a for n in args.deselect for a in ('--deselect', n)]
    _write_config(dest, args.modules, selection, args.max_stack_depth, args.debug,
                  args.worktree)

    env = dict(os.environ, LOSA_TEST_THREADS='1', OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
               PYTHONDONTWRITEBYTECODE='1')
    # mutmut puts mutants/ first on sys.path, ahead of the editable install's finder
    # (which points at the shared tree); it stops if the tests import another copy
    start = time.time()
    log = osp.join(scratch, 'mutmut.log')
    with open(log, 'w') as f:  # mutmut's progress spinner: kept out of the terminal
        run = subprocess.run([mutmut, 'run', '--max-children', str(args.jobs)] + args.mutants,
                             cwd=dest, env=env, stdout=f, stderr=subprocess.STDOUT)
    if run.returncode != 0:
        with open(log) as f:
            sys.stdout.write(f.read()[-5000:])
    elapsed = time.time() - start
    status = _results(mutmut, dest, env)
    counts = {}
    for s in status.values():
        counts[s] = counts.get(s, 0) + 1
    ran = sum(n for s, n in counts.items() if s not in NOT_RUN)
    killed = sum(counts.get(s, 0) for s in KILLED)
    survivors = {}
    for name, s in sorted(status.items()):
        if s == 'survived':
            survivors[name] = subprocess.run([mutmut, 'show', name], cwd=dest, env=env,
                                             capture_output=True, text=True).stdout
    if args.mutants:  # the others were not run
        status = {n: st for n, st in status.items()
                  if any(fnmatch.fnmatchcase(n, p) for p in args.mutants)}
        counts = {}
        for st in status.values():
            counts[st] = counts.get(st, 0) + 1
        ran = sum(n for st, n in counts.items() if st not in NOT_RUN)
        killed = sum(counts.get(st, 0) for st in KILLED)
    summary = dict(modules=args.modules, tests=args.tests, deselect=args.deselect,
                   mutants=args.mutants,
                   counts=counts,
                   kill_rate=killed / ran if ran else None, elapsed_s=round(elapsed),
                   mutmut_exit=run.returncode, survivors=survivors)
    for name, diff in survivors.items():
        sys.stdout.write(f'\n--- survived: {name}\n{diff}')
    rate = 'n/a' if ran == 0 else f'{100 * killed / ran:.1f} %'
    sys.stdout.write(f'\nmodules: {" ".join(args.modules)}\ncounts: {counts}\n'
                     f'kill rate: {rate} ({killed} of {ran} mutants that ran), '
                     f'{elapsed:.0f} s\n')
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(summary, f, indent=1)
    if not (args.keep or args.workdir):
        shutil.rmtree(scratch, ignore_errors=True)
    elif args.keep:
        sys.stdout.write(f'scratch copy kept at {dest}\n')
    return 0 if run.returncode == 0 else run.returncode


if __name__ == '__main__':
    sys.exit(main())
