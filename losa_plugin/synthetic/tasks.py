"""A small dependency-aware task pool: the benchmark's steps on a few cores.

Data generation, pretraining and TAL runs are separate processes; this pool starts the
first *ready* task (all dependencies done) in the given order whenever a slot is free,
so no slot waits on a task whose input is still being made (e.g. the aligned regime's
TAL runs use the core the transfer regime's pretraining does not).
"""
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Sequence


@dataclass
class Task:
    """One unit of work.

    Args:
        name (str): unique name (dependencies refer to it).
        fn (Callable[[], Any]): the work; its return value is the task's result.
        deps (Sequence[str]): names of tasks that must finish first.
    """
    name: str
    fn: Callable[[], Any]
    deps: Sequence[str] = field(default_factory=tuple)


def run_tasks(tasks: Sequence[Task], jobs: int) -> Dict[str, Any]:
    """Run ``tasks`` on ``jobs`` threads, each starting the first ready task in list
    order. Returns ``{name: result}``. The first exception stops new tasks from starting
    and is raised once the running ones finish."""
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f'run_tasks: duplicate task names in {names}')
    unknown = {d for t in tasks for d in t.deps} - set(names)
    if unknown:
        raise ValueError(f'run_tasks: unknown dependencies {sorted(unknown)}')
    pending: List[Task] = list(tasks)
    done: Dict[str, Any] = {}
    errors: List[BaseException] = []
    running = [0]
    cond = threading.Condition()

    def next_ready():
        for i, t in enumerate(pending):
            if all(d in done for d in t.deps):
                return pending.pop(i)
        return None

    def worker() -> None:
        while True:
            with cond:
                while True:
                    if errors or not pending:
                        return
                    task = next_ready()
                    if task is not None:
                        running[0] += 1
                        break
                    if running[0] == 0:  # nothing runs and nothing is ready: a cycle
                        return
                    cond.wait()
            try:
                result = task.fn()
            except BaseException as e:  # noqa: B902 (re-raised in the caller)
                with cond:
                    running[0] -= 1
                    errors.append(e)
                    cond.notify_all()
                return
            with cond:
                running[0] -= 1
                done[task.name] = result
                cond.notify_all()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, jobs))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]
    if pending:  # cannot happen without a dependency cycle
        raise RuntimeError(f'run_tasks: tasks never became ready (cycle?): '
                           f'{[t.name for t in pending]}')
    return done


def simulate_schedule(tasks: Sequence[Task], durations: Dict[str, float], jobs: int) -> float:
    """Makespan of :func:`run_tasks`' policy (first ready task in list order on each free
    slot) if each task took ``durations[name]`` seconds on its own core: with the tasks'
    measured CPU times, the wall time a quiet machine with ``jobs`` cores would give."""
    pending = list(tasks)
    finish: Dict[str, float] = {}
    slots = [0.0] * max(1, jobs)
    while pending:
        slot = min(range(len(slots)), key=lambda i: slots[i])
        now = slots[slot]
        ready = [t for t in pending if all(d in finish and finish[d] <= now for d in t.deps)]
        if not ready:
            # wait for the next finish of a dependency still running
            later = [f for f in finish.values() if f > now]
            if not later:
                raise RuntimeError('simulate_schedule: tasks never become ready (cycle?)')
            slots[slot] = min(later)
            continue
        task = ready[0]
        pending.remove(task)
        finish[task.name] = now + float(durations.get(task.name, 0.0))
        slots[slot] = finish[task.name]
    return max(finish.values(), default=0.0)
