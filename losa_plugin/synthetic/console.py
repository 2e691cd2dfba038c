"""The synthetic benchmark's console: one progress display for the whole job.

The job's steps (data generation, pretraining, TAL runs) run in child processes whose
output goes to their own folders (:func:`benchmark_steps.console_log_path`); the console
shows one display instead:

* on a terminal, a tqdm bar and a status line that redraw in place::

      7/16 steps |████████▊           | 02:13 elapsed, ETA 03:40
      now: TAL run 2/10 (losa, aligned, seed 0); pretraining (transfer)

  with one line above them per finished step (a TAL run's average mAP);
* elsewhere (a pipe, a CI log), one line per started and per finished step, each
  starting with the same progress, elapsed time and ETA.

The ETA replays the task pool's policy (:func:`tasks.simulate_schedule`) on the steps
still to run, each estimated by the mean wall time of finished steps of its kind (same
regime, strategy and seed 0 or not, then coarser), so it accounts for the dependencies
and the parallel slots. Steps that took under :data:`REUSED_S` seconds reused an earlier
run and are left out of the estimates. There is no ETA before the first such step ends.

Every line shown also goes to the job's log (``MMLogger``); the display itself is tqdm's.
"""
import logging
import os
import re
import sys
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, TextIO, Tuple

from mmengine.logging import MMLogger
from tqdm import tqdm

from .tasks import Task, simulate_schedule

#: a step that ended this fast reused an earlier run: no duration estimate from it
REUSED_S = 2.0
_TAL = re.compile(r'^(?P<regime>[^/]+)/(?P<strategy>[^/]+)/seed(?P<seed>\d+)$')


def _fmt_time(seconds: Optional[float]) -> str:
    return '?' if seconds is None else tqdm.format_interval(max(0.0, seconds))


class StepInfo:
    """What the console calls a task and which duration estimates apply to it.

    Args:
        name (str): the task's name (``<regime>/<strategy>/seed<k>``,
            ``<regime>/pretrain``, ``<regime>/data-untrimmed``, ``data-trimmed-<hash>``;
            other names are shown as they are).
        tal_index (int, optional): 1-based number of a TAL run in the job.
        tal_total (int): TAL runs in the job.
    """

    def __init__(self, name: str, tal_index: Optional[int] = None, tal_total: int = 0):
        self.name = name
        self.is_tal = False
        m = _TAL.match(name)
        regime, _, rest = name.partition('/')
        if m and tal_index is not None:
            self.is_tal = True
            self.label = (f'TAL run {tal_index}/{tal_total} ({m["strategy"]}, '
                          f'{m["regime"]}, seed {m["seed"]})')
            first = int(m['seed']) == 0
            self.keys: List[Tuple] = [('tal', m['regime'], m['strategy'], first),
                                      ('tal', m['regime'], m['strategy']),
                                      ('tal', m['strategy']), ('tal',)]
        elif rest == 'pretrain':
            self.label = f'pretraining ({regime})'
            self.keys = [('pretrain', regime), ('pretrain',)]
        elif rest == 'data-untrimmed':
            self.label = f'data ({regime}, untrimmed videos)'
            self.keys = [('data-untrimmed', regime), ('data-untrimmed',), ('data',)]
        elif name.startswith('data-trimmed'):
            self.label = f'data (pretraining clips {name[len("data-trimmed-"):]})'
            self.keys = [('data-trimmed',), ('data',)]
        else:
            self.label = name
            self.keys = [(name,)]


def describe_steps(names: Sequence[str]) -> Dict[str, StepInfo]:
    """:class:`StepInfo` per task name; TAL runs are numbered in list order."""
    tal = [n for n in names if _TAL.match(n)]
    index = {n: i + 1 for i, n in enumerate(tal)}
    return {n: StepInfo(n, index.get(n), len(tal)) for n in names}


def finished_line(info: StepInfo, result: Any, seconds: float) -> str:
    """One line for a finished step: a TAL run's average mAP (and with the gates at zero),
    a pretraining's final val top-1, the wall time."""
    took = f'{seconds:.0f} s' if seconds >= REUSED_S else 'reused'
    if not isinstance(result, dict):
        return f'{info.label}: done, {took}'
    if 'average_mAP' in result:
        off = result.get('average_mAP_gates_off')
        gates = '' if off is None else f' (gates at zero: {100 * off:.1f} %)'
        return f'{info.label}: average mAP {100 * result["average_mAP"]:.1f} %{gates}, {took}'
    top1 = [h['acc/top1'] for h in result.get('val_history', []) if 'acc/top1' in h]
    if top1:
        return f'{info.label}: val top-1 {100 * top1[-1]:.1f} % after {len(top1)} epochs, {took}'
    return f'{info.label}: done, {took}'


class JobProgress:
    """The progress display of a job of :class:`Task` s run by :func:`tasks.run_tasks`.

    Args:
        tasks (Sequence[Task]): the job's tasks, in the pool's order.
        jobs (int): parallel slots of the pool.
        stream (TextIO, optional): where the display goes. Default ``sys.stdout``.
        live (bool, optional): a bar redrawn in place (default: when ``stream`` is a
            terminal) instead of one line per event.
        logger (MMLogger, optional): also gets every line shown (the job's log).
        clock (Callable[[], float]): seconds, for tests. Default ``time.perf_counter``.
    """

    def __init__(self, tasks: Sequence[Task], jobs: int, stream: Optional[TextIO] = None,
                 live: Optional[bool] = None, logger: Optional[MMLogger] = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.tasks = list(tasks)
        self.jobs = max(1, int(jobs))
        self.stream = sys.stdout if stream is None else stream
        self.live = bool(getattr(self.stream, 'isatty', lambda: False)()) if live is None \
            else bool(live)
        self.logger = logger
        self.clock = clock
        self.info = describe_steps([t.name for t in self.tasks])
        self.t0 = clock()
        self.started: Dict[str, float] = {}
        self.durations: Dict[str, float] = {}  # finished steps (wall seconds)
        self._lock = threading.RLock()
        self._bar: Optional[tqdm] = None
        self._now: Optional[tqdm] = None
        self._stop = threading.Event()
        self._ticker: Optional[threading.Thread] = None

    # ------------------------------------------------------------- estimates
    def estimate(self, name: str) -> Optional[float]:
        """Expected wall seconds of a step: the mean of the finished steps sharing its
        most specific kind (reused runs left out), else of all measured steps."""
        measured = {n: d for n, d in self.durations.items() if d >= REUSED_S}
        for key in self.info[name].keys:
            same = [d for n, d in measured.items() if key in self.info[n].keys]
            if same:
                return sum(same) / len(same)
        return sum(measured.values()) / len(measured) if measured else None

    def eta(self) -> Optional[float]:
        """Seconds until the last step ends, or None before any step was measured."""
        with self._lock:
            if not any(d >= REUSED_S for d in self.durations.values()):
                return None
            now = self.clock()
            todo = [t for t in self.tasks if t.name not in self.durations]
            # running steps first: the replay puts them on the slots at once
            todo.sort(key=lambda t: t.name not in self.started)
            left = {t.name for t in todo}
            durations = {}
            for t in todo:
                d = self.estimate(t.name) or 0.0
                if t.name in self.started:
                    d = max(d - (now - self.started[t.name]), 1.0)
                durations[t.name] = d
            # a running step's inputs exist, whatever the replay thinks of them
            replay = [Task(t.name, None, [] if t.name in self.started else
                           [d for d in t.deps if d in left]) for t in todo]
            return simulate_schedule(replay, durations, self.jobs)

    def status(self) -> str:
        """``k/n steps, 0:02:13 elapsed, ETA 0:03:40``."""
        with self._lock:
            return (f'{len(self.durations)}/{len(self.tasks)} steps, '
                    f'{_fmt_time(self.clock() - self.t0)} elapsed, ETA {_fmt_time(self.eta())}')

    # --------------------------------------------------------------- display
    def write(self, text: str) -> None:
        """Show ``text`` (above the bar when live) and log it."""
        with self._lock:
            if self._bar is not None:
                self._bar.write(text, file=self.stream)
            else:
                self.stream.write(text + '\n')
                self.stream.flush()
        if self.logger is not None:
            for line in text.splitlines():
                self.logger.info(line)

    def _refresh(self) -> None:
        with self._lock:
            if self._bar is not None:
                running = [self.info[n].label for n in self.started if n not in self.durations]
                self._now.set_description_str('now: ' + ('; '.join(running) or '-'),
                                              refresh=True)
                self._bar.n = len(self.durations)
                self._bar.set_postfix_str(f'ETA {_fmt_time(self.eta())}', refresh=True)

    def _tick(self) -> None:
        while not self._stop.wait(1.0):  # elapsed time and ETA move between events
            self._refresh()

    def __enter__(self) -> 'JobProgress':
        self.t0 = self.clock()
        if self.live:
            try:  # a terminal reporting no size (some ptys) gets a fixed width
                sized = os.get_terminal_size(self.stream.fileno()).columns > 0
            except (AttributeError, OSError, ValueError):
                sized = False
            size = dict(file=self.stream, dynamic_ncols=sized, ncols=None if sized else 120,
                        nrows=None if sized else 24)
            self._bar = tqdm(total=len(self.tasks), position=0, **size,
                             bar_format='{n_fmt}/{total_fmt} steps |{bar:20}| '
                                        '{elapsed} elapsed{postfix}')
            # the running steps on a status line of their own below the bar
            self._now = tqdm(total=1, position=1, leave=False, bar_format='{desc}', **size)
            self._refresh()
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        with self._lock:
            if self._bar is not None:
                self._refresh()
                self._now.close()
                self._bar.close()
                self._bar = self._now = None

    # ---------------------------------------------------------------- events
    def step_started(self, name: str) -> None:
        with self._lock:
            self.started[name] = self.clock()
        if self.live:
            self._refresh()
        else:
            self.write(f'[{self.status()}] start {self.info[name].label}')

    def step_finished(self, name: str, result: Any) -> None:
        with self._lock:
            seconds = self.clock() - self.started.get(name, self.clock())
            self.durations[name] = seconds
        line = finished_line(self.info[name], result, seconds)
        self.write(line if self.live else f'[{self.status()}] {line}')
        self._refresh()

    def step_failed(self, name: str, error: BaseException) -> None:
        self.write(f'FAILED {self.info[name].label}: {type(error).__name__}: {error}')

    def wrap(self, tasks: Sequence[Task]) -> List[Task]:
        """The same tasks, each reporting its start and end to this display."""
        def tracked(task: Task) -> Callable[[], Any]:
            def fn() -> Any:
                self.step_started(task.name)
                try:
                    result = task.fn()
                except BaseException as e:  # noqa: B902 (shown, then re-raised)
                    self.step_failed(task.name, e)
                    raise
                self.step_finished(task.name, result)
                return result
            return fn
        return [Task(t.name, tracked(t), t.deps) for t in tasks]


def format_job_summary(results: Dict[str, Dict[str, dict]], paired: Dict[str, Optional[dict]],
                       seeds: Tuple[int, int], out_dir: str, logs: Dict[str, str],
                       wall_s: float, cpu_s: float,
                       qualified: Optional[Dict[str, dict]] = None) -> str:
    """What the console prints at the end: the table of each regime (as ``results.md``
    has it), the qualification checks, the paired LoSA - head-only differences with their
    intervals, and where the results, plots and logs are."""
    import os.path as osp

    from .benchmark_report import format_paired, format_qualification, format_table
    lines = ['', 'Results: average mAP (%) over tIoU 0.3:0.1:0.7, mean ± std over seeds '
             '[min–max] (the seeds column: ' + (f'{seeds[0]}, {seeds[1]} for the strategies '
             'that train the backbone, unless a regime sets its own)')]
    for regime, table in results.items():
        lines += ['', f'{regime}:', format_table(table)]
    if qualified:
        lines += ['', 'Qualification (does the regime satisfy LoSA\'s premise? no LoSA):',
                  format_qualification(qualified)]
    if any(p is not None for p in paired.values()):
        lines += ['', 'Paired difference, LoSA − head-only (same seeds, 95 % t-interval):',
                  format_paired(paired)]
    lines += ['', f'Done in {_fmt_time(wall_s)} (CPU {cpu_s / 60:.1f} min).',
              f'results: {osp.join(out_dir, "results.md")} (all figures: '
              f'{osp.join(out_dir, "results.json")})',
              f'plots:   {osp.join(out_dir, "results.png")}, '
              f'{osp.join(out_dir, "gates.png")}',
              f'logs:    {logs["log"]} (this job); {logs["runs"]}/<regime>/<run>/console.log '
              '(each run, beside mmengine\'s log)']
    return '\n'.join(lines)


@contextmanager
def job_log(logger: MMLogger, log_file: str, quiet: bool) -> Iterator[None]:
    """Inside the block ``logger`` also writes to ``log_file`` (everything from INFO on);
    with ``quiet`` its console handlers show warnings and errors only (the progress
    display shows the rest)."""
    from mmengine.logging.logger import MMFormatter
    handler = logging.FileHandler(log_file, mode='a')
    handler.setFormatter(MMFormatter(color=False, datefmt='%Y/%m/%d %H:%M:%S'))
    handler.setLevel(logging.INFO)
    consoles = [h for h in logger.handlers if isinstance(h, logging.StreamHandler)
                and not isinstance(h, logging.FileHandler)]
    levels = [h.level for h in consoles]
    logger.addHandler(handler)
    if quiet:
        for h in consoles:
            h.setLevel(max(h.level, logging.WARNING))
    try:
        yield
    finally:
        for h, level in zip(consoles, levels):
            h.setLevel(level)
        logger.removeHandler(handler)
        handler.close()
