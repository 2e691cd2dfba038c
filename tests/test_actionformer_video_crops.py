"""ActionFormer's truncation rule on raw-video training windows (SampleVideoWindow): a
crop keeps a segment when half of it lies in the crop widened by half a cell each side
(in grid positions), clipped there; an uncropped video keeps its ground truth as is."""
import numpy as np
import pytest
from mmengine.registry import init_default_scope

from losa_plugin.datasets.transforms.pack_tal_inputs import PackTALInputs
from losa_plugin.datasets.transforms.sample_video_window import SampleVideoWindow
from tests.test_video_pipeline import write_video

FPS = 25.0


@pytest.fixture(scope='module')
def video50(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp('crops') / 'v50.mp4', 50, fps=int(FPS))


def _run(path, segments_frames, seed, num_clips=2):
    init_default_scope('mmaction')
    t = SampleVideoWindow(clip_len=4, num_clips=num_clips, frames_per_cell=2, trunc_thresh=0.5)
    np.random.seed(seed)
    r = t(dict(video_path=path, fps=FPS, segments=np.asarray(segments_frames) / FPS,
               labels=np.arange(len(segments_frames))))
    # PackTALInputs needs only the window fields for the ground truth
    out = PackTALInputs()(dict(r, video_id='v', feat=np.zeros((1, 4), np.float32)))
    return r, out['data_samples'].gt_instances


def test_crop_keeps_half_inside_the_widened_window(video50):
    """50 frames, 2 frames a cell: 25 cells, crops of 4. Cell i's grid position is its
    centre, so frames f -> grid f / 2 - 0.5. A = frames [30, 37.5] -> grid
    [14.5, 18.25]; B = frames [10, 14] -> grid [4.5, 6.5]. A crop at cell s spans grid
    [s, s + 4], widened [s - 0.5, s + 4.5]."""
    grid = np.array([[14.5, 18.25], [4.5, 6.5]])
    widened_only = 0
    for seed in range(60):
        r, gt = _run(video50, [[30.0, 37.5], [10.0, 14.0]], seed)
        s = r['window_start'] // 2
        lo, hi = s - 0.5, s + 4.5
        inside = grid.clip(lo, hi)
        keep = (inside[:, 1] - inside[:, 0]) >= 0.5 * (grid[:, 1] - grid[:, 0])
        assert keep.any(), s  # the crop was accepted for keeping one
        assert gt.labels.tolist() == np.nonzero(keep)[0].tolist(), s
        np.testing.assert_allclose(gt.segments.numpy(), inside[keep] - s, atol=1e-5)
        plain = grid.clip(s, s + 4)
        widened_only += int(np.any(keep & ((plain[:, 1] - plain[:, 0])
                                           < 0.5 * (grid[:, 1] - grid[:, 0]))))
    assert widened_only > 0  # some crop kept a segment only thanks to the widening


def test_uncropped_video_keeps_its_ground_truth(video50):
    """A window of 25 cells covers the whole video: no crop, nothing dropped or
    clipped, even a segment running past the video's end."""
    r, gt = _run(video50, [[30.0, 37.5], [40.0, 60.0]], seed=0, num_clips=13)
    assert r['window_start'] == 0 and gt.labels.tolist() == [0, 1]
    np.testing.assert_allclose(gt.segments.numpy(), [[14.5, 18.25], [19.5, 29.5]],
                               atol=1e-5)
