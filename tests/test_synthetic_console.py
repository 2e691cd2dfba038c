"""The synthetic benchmark's console: step labels, the ETA, the line-per-event and the live
display, the job log (the quick run's whole console is checked in
test_synthetic_benchmark.py)."""
import io
import logging

import pytest

from losa_plugin.synthetic.console import (JobProgress, describe_steps, finished_line,
                                           job_log)
from losa_plugin.synthetic.tasks import Task, run_tasks


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _tasks():
    noop = lambda: None  # noqa: E731
    return [Task('aligned/data-untrimmed', noop), Task('aligned/pretrain', noop),
            Task('aligned/losa/seed0', noop, ['aligned/data-untrimmed', 'aligned/pretrain']),
            Task('aligned/head_only/seed0', noop,
                 ['aligned/data-untrimmed', 'aligned/pretrain']),
            Task('aligned/losa/seed1', noop, ['aligned/losa/seed0'])]


def test_steps_are_named_for_a_person_and_tal_runs_numbered_in_order():
    info = describe_steps(['data-trimmed-1a2b', 'transfer/pretrain', 'transfer/data-untrimmed',
                           'transfer/losa/seed0', 'transfer/full_ft/seed2', 'other'])
    assert info['data-trimmed-1a2b'].label == 'data (pretraining clips 1a2b)'
    assert info['transfer/pretrain'].label == 'pretraining (transfer)'
    assert info['transfer/data-untrimmed'].label == 'data (transfer, untrimmed videos)'
    assert info['transfer/losa/seed0'].label == 'TAL run 1/2 (losa, transfer, seed 0)'
    assert info['transfer/full_ft/seed2'].label == 'TAL run 2/2 (full_ft, transfer, seed 2)'
    assert info['other'].label == 'other'
    line = finished_line(info['transfer/losa/seed0'],
                         dict(average_mAP=0.2534, average_mAP_gates_off=0.2479), 41.4)
    assert line == ('TAL run 1/2 (losa, transfer, seed 0): average mAP 25.3 % '
                    '(gates at zero: 24.8 %), 41 s')
    assert finished_line(info['transfer/pretrain'],
                         dict(val_history=[{'epoch': 1, 'acc/top1': 0.2},
                                           {'epoch': 2, 'acc/top1': 0.74}]), 0.3) == \
        'pretraining (transfer): val top-1 74.0 % after 2 epochs, reused'


def test_eta_replays_the_schedule_with_durations_of_the_same_kind():
    clock = FakeClock()
    tasks = _tasks()
    p = JobProgress(tasks, jobs=2, stream=io.StringIO(), live=False, clock=clock)
    p.step_started('aligned/data-untrimmed')
    p.step_started('aligned/pretrain')
    assert p.eta() is None  # nothing measured yet
    clock.t = 10.0
    p.step_finished('aligned/data-untrimmed', None)
    clock.t = 20.0
    p.step_finished('aligned/pretrain', None)
    p.step_started('aligned/losa/seed0')
    p.step_started('aligned/head_only/seed0')
    clock.t = 40.0
    # no TAL run measured: every step is taken as the mean of the measured ones,
    # (10 + 20) / 2 = 15 s; both running runs are overdue (1 s left each), then
    # losa seed 1 (after losa seed 0) takes 15 s on a free slot: 1 + 15
    assert p.eta() == pytest.approx(16.0)
    clock.t = 50.0
    p.step_finished('aligned/losa/seed0', dict(average_mAP=0.25))
    # losa seed 1 is estimated by losa seed 0 (30 s), head-only seed 0 by the only TAL
    # run measured (30 s, 30 s elapsed: 1 s left); the two run side by side
    assert p.estimate('aligned/losa/seed1') == pytest.approx(30.0)
    assert p.eta() == pytest.approx(30.0)
    # one slot: head-only's last second, then losa seed 1
    p.jobs = 1
    assert p.eta() == pytest.approx(31.0)
    # a run that ended at once reused an earlier one: not an estimate of the kind
    p.step_started('aligned/losa/seed1')
    clock.t = 50.5
    p.step_finished('aligned/losa/seed1', dict(average_mAP=0.3))
    assert p.estimate('aligned/losa/seed1') == pytest.approx(30.0)


def test_lines_per_event_off_a_terminal():
    stream = io.StringIO()
    tasks = _tasks()
    results = {'aligned/losa/seed0': dict(average_mAP=0.251), 'aligned/losa/seed1':
               dict(average_mAP=0.262), 'aligned/head_only/seed0': dict(average_mAP=0.24)}
    tasks = [Task(t.name, (lambda r=results.get(t.name): r), t.deps) for t in tasks]
    progress = JobProgress(tasks, jobs=2, stream=stream)
    assert not progress.live  # StringIO is not a terminal
    with progress:
        run_tasks(progress.wrap(tasks), 2)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 * len(tasks)
    assert sum(line.endswith('] start TAL run 2/3 (head_only, aligned, seed 0)')
               for line in lines) == 1
    done = [line for line in lines if 'average mAP' in line]
    assert len(done) == 3 and lines[-1].startswith('[5/5 steps, 00:00 elapsed, ETA')
    assert any(line.endswith('TAL run 3/3 (losa, aligned, seed 1): average mAP 26.2 %, reused')
               for line in done)


def test_live_display_is_one_bar_with_the_running_steps_and_a_line_per_finished_step():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True
    stream = Terminal()
    clock = FakeClock()
    tasks = _tasks()[:3]
    progress = JobProgress(tasks, jobs=2, stream=stream, clock=clock)
    assert progress.live
    with progress:
        progress.step_started('aligned/data-untrimmed')
        progress.step_started('aligned/pretrain')
        clock.t = 12.0
        progress.step_finished('aligned/data-untrimmed', None)
        progress.step_started('aligned/losa/seed0')
        shown = stream.getvalue()
        assert 'now: pretraining (aligned); TAL run 1/1 (losa, aligned, seed 0)' in shown
        assert '1/3 steps |' in shown and 'ETA 00:12' in shown  # 12 s each, side by side
        with pytest.raises(RuntimeError):
            progress.wrap([Task('aligned/pretrain', _fail)])[0].fn()
    out = stream.getvalue()
    assert 'data (aligned, untrimmed videos): done, 12 s\n' in out
    assert 'FAILED pretraining (aligned): RuntimeError: no checkpoint' in out


def _fail():
    raise RuntimeError('no checkpoint')


def test_job_log_gets_everything_and_the_console_only_warnings(tmp_path):
    from mmengine.logging import MMLogger
    logger = MMLogger.get_instance('test_job_log', log_level='INFO')
    console = [h for h in logger.handlers if not isinstance(h, logging.FileHandler)][0]
    level = console.level
    log_file = tmp_path / 'job.log'
    with job_log(logger, str(log_file), quiet=True):
        assert console.level == logging.WARNING
        logger.info('an info line')
        logger.warning('a warning')
    assert console.level == level
    logger.info('after the job')
    text = log_file.read_text()
    assert 'an info line' in text and 'a warning' in text and 'after the job' not in text
