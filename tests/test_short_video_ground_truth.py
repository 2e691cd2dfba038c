"""A video file far shorter than its annotation's duration is named, and in training its
ground truth past the file's end is dropped (or clipped to the end) and counted, never
kept: the training windows then hold no action the frames cannot show."""
import json
import logging

import av
import numpy as np
import pytest
from mmengine.dataset import Compose
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

from losa_plugin.datasets import TALDataset

FPS = 30


def _write_video(path, num_frames):
    with av.open(str(path), 'w') as c:
        s = c.add_stream('mpeg4', rate=FPS)
        s.width, s.height, s.pix_fmt = 32, 32, 'yuv420p'
        for k in range(num_frames):
            img = np.full((32, 32, 3), 10 * k, np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format='rgb24')):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.fixture
def warnings_seen():
    records = []

    class Capture(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger = MMLogger.get_current_instance()
    handler = Capture(logging.WARNING)
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


@pytest.fixture
def short_videos(tmp_path):
    """Three videos annotated as 10 s at 30 fps: 'one' holds 1 frame, 'nine' 9 frames
    (0.3 s), 'full' 300 frames. Segments: 6-9 s everywhere, 0.1-0.25 s in 'nine' and
    0.2-0.5 s (past its end: clipped to 0.3 s) in 'nine' too."""
    folder = tmp_path / 'videos'
    folder.mkdir()
    for vid, n in (('one', 1), ('nine', 9), ('full', 300)):
        _write_video(folder / f'{vid}.mp4', n)
    late = dict(label='Jump', segment=[6.0, 9.0])
    db = dict(one=[late], full=[late],
              nine=[late, dict(label='Jump', segment=[0.1, 0.25]),
                    dict(label='Jump', segment=[0.2, 0.5])])
    db = {v: dict(subset='Validation', duration=10.0, fps=float(FPS), annotations=a)
          for v, a in db.items()}
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(dict(database=db)))
    return lambda **kw: TALDataset(ann_file=str(ann), subset='Validation',
                                   input_type='video', data_prefix=dict(video=str(folder)),
                                   **kw)


def test_short_videos_are_named_and_their_late_ground_truth_not_trained_on(
        short_videos, warnings_seen):
    ds = short_videos()
    infos = {ds.get_data_info(i)['video_id']: ds.get_data_info(i) for i in range(len(ds))}
    assert sorted(infos) == ['full', 'nine']  # 'one' keeps no ground truth: left out
    np.testing.assert_array_equal(infos['full']['segments'], [[6.0, 9.0]])
    np.testing.assert_allclose(infos['nine']['segments'], [[0.1, 0.25], [0.2, 0.3]],
                               rtol=0, atol=1e-6)
    assert infos['nine']['total_frames'] == 9  # the file's frames, not 10 s x 30
    msg = [m for m in warnings_seen if 'shorter than their annotated duration' in m]
    assert len(msg) == 1, warnings_seen
    assert "video 'one'" in msg[0] and "video 'nine'" in msg[0] and "'full'" not in msg[0]
    assert 'covers 0.30 s of 10.00 s' in msg[0]
    assert '2 segments dropped, 1 clipped' in msg[0]
    assert (ds.num_short_dropped_segments, ds.num_short_clipped_segments) == (2, 1)

    # every training window of 'nine' holds only what its 9 frames show
    init_default_scope('mmaction')
    pipeline = Compose([dict(type='SampleVideoWindow', clip_len=4, num_clips=4,
                             frames_per_cell=1), dict(type='DecodeVideoWindow'),
                        dict(type='PackTALInputs')])
    nine = next(i for i in range(len(ds)) if ds.get_data_info(i)['video_id'] == 'nine')
    for seed in range(5):
        np.random.seed(seed)
        out = pipeline(ds.get_data_info(nine))
        gt = out['data_samples'].gt_instances.segments  # grid cells = frames here
        assert len(gt) == 2 and float(gt.max()) <= 9.0


def test_test_mode_names_them_and_keeps_the_annotation(short_videos, warnings_seen):
    ds = short_videos(test_mode=True)
    infos = {ds.get_data_info(i)['video_id']: ds.get_data_info(i) for i in range(len(ds))}
    assert sorted(infos) == ['full', 'nine', 'one']
    np.testing.assert_array_equal(infos['one']['segments'], [[6.0, 9.0]])  # evaluated as given
    assert any("video 'one'" in m and 'cannot be detected' in m for m in warnings_seen)


def test_duration_check_off_keeps_everything(short_videos):
    ds = short_videos(duration_check='off')
    assert len(ds) == 3
    assert all(len(ds.get_data_info(i)['segments']) for i in range(3))
