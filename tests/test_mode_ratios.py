"""Ratios between the rows of one benchmark run (losa_plugin/benchmark/mode_ratios.py)."""
import pytest

from losa_plugin.benchmark.mode_ratios import format_ratios, mode_ratios


def row(strategy, mode, peak, step=None, fwd=None, bwd=None, frames=1024, size=112):
    return dict(strategy=strategy, mode=mode, peak_mem_mb=peak, step_time_s=step,
                forward_s=fwd, backward_s=bwd, frames=frames, height=size, width=size,
                backbone=f'ViT@{size}px')


def test_ratios_against_the_references_of_the_same_window():
    rows = [row('head_only', 'default', 300.0, 60.0, 59.0, 1.0),
            row('losa', 'default', 2000.0, 50.0, 40.0, 10.0),
            row('losa', 'stream', 500.0, 45.0, 43.0, 2.0),
            row('losa', 'recompute', 550.0, 95.0, 40.0, 55.0),
            row('adatad', 'default', 880.0, 90.0, 30.0, 60.0),
            # another window: its own references only (none here but itself)
            row('losa', 'recompute', 450.0, 30.0, 15.0, 15.0, frames=256)]
    ratios = mode_ratios(rows)
    assert [(r['mode'], r['frames']) for r in ratios] == [('stream', 1024),
                                                          ('recompute', 1024),
                                                          ('recompute', 256)]
    rec = ratios[1]
    assert rec['peak_vs_default'] == pytest.approx(550 / 2000)
    assert rec['peak_vs_stream'] == pytest.approx(550 / 500)
    assert rec['peak_vs_head_only'] == pytest.approx(550 / 300)
    assert rec['peak_vs_adatad'] == pytest.approx(550 / 880)
    assert rec['step_vs_default'] == pytest.approx(95 / 50)
    assert rec['forward_vs_default'] == pytest.approx(40 / 40)
    assert rec['backward_vs_default'] == pytest.approx(55 / 10)
    assert 'peak_vs_stream' not in ratios[0]  # not against itself
    assert set(ratios[2]) == {'mode', 'frames', 'height'}
    text = format_ratios(ratios)
    assert 'recompute at 1024 frames, 112 px: peak vs default x0.28, stream x1.10' in text
    assert 'step time vs default x1.90 (forward x1.00, backward x5.50)' in text


def test_unmeasured_rows_give_no_ratios():
    rows = [row('losa', 'default', None), row('losa', 'recompute', None)]
    assert mode_ratios(rows) == [] and format_ratios([]) == ''
