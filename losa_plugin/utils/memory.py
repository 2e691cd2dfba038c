"""Peak memory measurement: CUDA max-allocated on GPU, peak RSS growth on CPU."""
from typing import Optional

import torch


def _read_status_kb(field: str) -> Optional[int]:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def current_rss_mb() -> float:
    """Resident set size of this process now, in MiB (0 where /proc is missing)."""
    kb = _read_status_kb('VmRSS')
    return (kb or 0) / 1024.0


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS watermark (VmHWM) of this process.

    Linux supports ``echo 5 > /proc/self/clear_refs`` for this; returns False where it
    is not available (then the peak covers the whole process lifetime).
    """
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident set size (VmHWM) in MiB since start or the last reset."""
    kb = _read_status_kb('VmHWM')
    if kb is None:
        import resource
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0


class PeakMemoryMeter:
    """Measures the peak memory of the code inside ``with`` above its starting point.

    On CUDA: ``torch.cuda.max_memory_allocated`` growth (tensors only). On CPU: growth
    of the peak RSS over the RSS at entry (the process's own allocations, including
    the allocator's caching), after resetting the kernel's watermark.

    Attributes after exit: ``peak_mb`` (growth, MiB), ``device`` ('cuda' or 'cpu').
    """

    def __init__(self, device: Optional[str] = None) -> None:
        self.device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
        self.peak_mb = 0.0
        self._start = 0.0

    def __enter__(self) -> 'PeakMemoryMeter':
        if self.device == 'cuda':
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._start = torch.cuda.memory_allocated() / 2**20
        else:
            reset_peak_rss()
            self._start = current_rss_mb()
        return self

    def __exit__(self, *exc) -> None:
        if self.device == 'cuda':
            torch.cuda.synchronize()
            self.peak_mb = torch.cuda.max_memory_allocated() / 2**20 - self._start
        else:
            self.peak_mb = max(peak_rss_mb() - self._start, 0.0)


__all__ = ['PeakMemoryMeter', 'current_rss_mb', 'peak_rss_mb', 'reset_peak_rss']
