"""Extract per-video features with a config's layer-tap backbone, for head-only baselines.

    python tools/extract_features.py CONFIG --videos DIR --out DIR
        [--checkpoint CKPT] [--taps last|all|ID,ID,...] [--clip-batch N]
        [--ext .mp4 .avi ...] [--overwrite] [--cfg-options k=v ...]

The backbone is ``model.backbone`` of CONFIG (``LayerTapViT`` / ``LayerTapSlowFast``),
frozen, with taps averaged over space inside its clip loop. Frames come from the
config's test pipeline (``SampleVideoWindow`` forced to test mode, ``DecodeVideoWindow``,
resizing / cropping, ``PackTALInputs``) and are normalised by ``model.data_preprocessor``,
so features match what an end-to-end model sees at test time.

Each video is cut into consecutive, non-overlapping windows of the sampler's size (the
backbone runs clips independently, so the cut does not change the features); the valid
cells of all windows are concatenated. Outputs:

* ``--taps last`` (default): ``OUT/<video_id>.npy``, ``[L, C]`` float32, one row per
  grid cell (``L = ceil(num_frames / feature_stride)`` for the stride sampler).
* several taps: ``OUT/layer_<id>/<video_id>.npy``, ``[L_i, C_i]`` each.
* ``OUT/meta.json``: per video ``num_frames``, ``fps``, ``feature_stride`` (frames
  between rows), ``first_row_frame`` and ``num_features``; row ``i`` sits at frame
  ``first_row_frame + i * feature_stride`` (``losa_plugin/utils/time_grid.py``; for a
  ViT ``first_row_frame = 0.5 * feature_stride``, i.e. for ``TALDataset`` set
  ``feature_stride = frames_per_feature = feature_stride``).

The highest tapped layer (``--taps last``: the last block) is written as the backbone's
own output pools it (``TapOutput.pooled_last``; VideoMAEv2: the pretrained ``fc_norm`` of
each temporal token's spatial mean), i.e. exactly the head-only / LoSA ``F_N``; other
layers are plain spatial means.

Videos that cannot be read (missing, empty, corrupt) are logged and skipped; the exit
code is 1 when any was skipped. Existing outputs are kept unless ``--overwrite``.
"""
import argparse
import copy
import json
import math
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from einops import rearrange  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.dataset import Compose  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from tqdm import tqdm  # noqa: E402
from tqdm.contrib.logging import logging_redirect_tqdm  # noqa: E402

import losa_plugin  # noqa: E402,F401  (compat shims, registers components)
# the video transforms the pipeline needs (registered on import)
from losa_plugin.datasets.transforms import (  # noqa: E402,F401
    consistent_augment, decode_video_window, sample_video_window)
from mmaction.registry import MODELS  # noqa: E402

VIDEO_EXTS = ('.mp4', '.avi', '.mkv', '.webm', '.mov', '.m4v')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Extract layer-tap features per video')
    parser.add_argument('config', help='config whose model.backbone is a layer-tap backbone')
    parser.add_argument('--videos', required=True, help='folder of video files')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--checkpoint', help='MMAction2 recognizer or bare backbone '
                        "checkpoint (the backbone's 'pretrained')")
    parser.add_argument('--taps', default='last',
                        help="'last', 'all', or comma-separated 1-based layer ids")
    parser.add_argument('--clip-batch', type=int, default=None,
                        help='clips per backbone call (memory / speed)')
    parser.add_argument('--ext', nargs='+', default=list(VIDEO_EXTS),
                        help='video file extensions to process')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--overwrite', action='store_true', help='redo existing outputs')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, key=value')
    return parser.parse_args(argv)


def parse_taps(taps: str) -> Optional[List[int]]:
    """``'last'`` -> [-1]; ``'all'`` -> None (every layer); ``'3,6,12'`` -> [3, 6, 12]."""
    if taps == 'last':
        return [-1]
    if taps == 'all':
        return None
    try:
        return [int(t) for t in taps.split(',') if t.strip()]
    except ValueError:
        raise ValueError(f"--taps must be 'last', 'all' or comma-separated ints, got "
                         f'{taps!r}') from None


def build_backbone(cfg: Config, taps: Optional[List[int]], checkpoint: Optional[str],
                   clip_batch: Optional[int]) -> torch.nn.Module:
    """The config's layer-tap backbone, frozen, spatially pooled, with the chosen taps."""
    if 'model' not in cfg or 'backbone' not in cfg.model:
        raise KeyError(f'{cfg.filename}: no model.backbone in the config')
    bb = copy.deepcopy(cfg.model.backbone)
    bb.update(tap_layers=taps, tap_reduce='spatial_mean', frozen=True)
    if clip_batch is not None:
        bb['clip_batch'] = clip_batch
    if checkpoint is not None:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
        bb['pretrained'] = checkpoint
        bb.pop('init_cfg', None)
    backbone = MODELS.build(bb)
    backbone.init_weights()
    return backbone.eval()


def build_pipeline(cfg: Config) -> Compose:
    """The config's test pipeline with the window sampler forced to test mode."""
    try:
        pipeline = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
    except AttributeError:
        raise KeyError(f'{cfg.filename}: no test_dataloader.dataset.pipeline') from None
    samplers = [t for t in pipeline if t.get('type') == 'SampleVideoWindow']
    if len(samplers) != 1:
        raise ValueError(f'{cfg.filename}: the test pipeline needs exactly one '
                         f'SampleVideoWindow, found {len(samplers)}')
    samplers[0]['test_mode'] = True
    return Compose(pipeline)


def _sampler(pipeline: Compose):
    return next(t for t in pipeline.transforms if type(t).__name__ == 'SampleVideoWindow')


@torch.no_grad()
def extract_video(path: str, video_id: str, pipeline: Compose, preprocessor, backbone,
                  device: str) -> Dict:
    """Features of one video: ``{layer_id: [L_i, C_i] float32}`` plus metadata. A
    progress bar counts its windows on a terminal (a long video at ViT-g takes minutes)."""
    sampler = _sampler(pipeline)
    clip_len = sampler.clip_len
    base = dict(video_path=path, video_id=video_id, fps=None, duration=None,
                segments=np.zeros((0, 2), np.float32), labels=np.zeros(0, np.int64))
    if sampler.mode == 'resize':
        windows = [dict()]  # one window: the whole video resampled
    else:
        info = sampler.probe(dict(base))
        span = sampler.window_frames * sampler.frame_interval  # a multiple of the stride
        windows = [dict(window_start=s, window_len=span)
                   for s in range(0, info.num_frames, span)]
    per_layer: Dict[int, List[np.ndarray]] = {}
    meta = None
    for win in tqdm(windows, desc=f'  {video_id}', unit='window', leave=False,
                    disable=None if len(windows) > 1 else True):
        packed = pipeline(dict(base, **win))
        data = preprocessor(dict(inputs=[packed['inputs']],
                                 data_samples=[packed['data_samples']]))
        frames = data['inputs'].to(device)
        valid_len = int(packed['data_samples'].metainfo['valid_len'])
        frame_mask = torch.arange(frames.shape[2], device=device)[None] < valid_len
        taps = backbone(frames, frame_mask)
        # the highest tapped layer as the backbone's own output pools it (VideoMAEv2:
        # fc_norm of the spatial mean): the head-only features F_N
        feats = list(taps.feats[:-1]) + [taps.pooled_last]
        for layer_id, feat in zip(taps.layer_ids, feats):
            # [1, T, T_i, C] -> [T * T_i, C]; keep the cells holding valid frames
            t_i = feat.shape[2]
            rows = rearrange(feat.float(), 'b t ti c -> (b t ti) c')
            n_valid = math.ceil(valid_len * t_i / clip_len)
            per_layer.setdefault(layer_id, []).append(rows[:n_valid].cpu().numpy())
        if meta is None:
            m = packed['data_samples'].metainfo
            meta = dict(fps=m['fps'], feature_stride=m['feature_stride'],
                        first_row_frame=m['window_offset'], num_frames=None)
    meta['num_frames'] = int(_sampler(pipeline).probe(dict(base)).num_frames)
    feats = {k: np.concatenate(v) for k, v in per_layer.items()}
    meta['num_features'] = {k: int(v.shape[0]) for k, v in feats.items()}
    return dict(feats=feats, meta=meta)


def _out_path(out: str, layer_id: int, video_id: str, single: bool) -> str:
    return osp.join(out, f'{video_id}.npy') if single \
        else osp.join(out, f'layer_{layer_id:02d}', f'{video_id}.npy')


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    logger = MMLogger.get_instance('extract_features', log_level='INFO')
    if not osp.isdir(args.videos):
        raise FileNotFoundError(f'--videos: not a folder: {args.videos}')
    exts = tuple(e if e.startswith('.') else '.' + e for e in args.ext)
    names = sorted(n for n in os.listdir(args.videos) if n.lower().endswith(exts))
    if not names:
        raise FileNotFoundError(f'--videos {args.videos}: no files ending in {exts}')

    backbone = build_backbone(cfg, parse_taps(args.taps), args.checkpoint,
                              args.clip_batch).to(args.device)
    single = len(backbone.layer_ids) == 1
    preprocessor = MODELS.build(cfg.model.get('data_preprocessor',
                                              dict(type='TALDataPreprocessor')))
    pipeline = build_pipeline(cfg)
    os.makedirs(args.out, exist_ok=True)
    meta_file = osp.join(args.out, 'meta.json')
    all_meta = {}
    if osp.isfile(meta_file):
        with open(meta_file) as f:
            all_meta = json.load(f).get('videos', {})

    failed = []
    # one bar over the videos (log lines go above it), one over the current video's windows
    with logging_redirect_tqdm(loggers=[logger]):
        for name in tqdm(names, desc='videos', unit='video'):
            video_id = osp.splitext(name)[0]
            outs = [_out_path(args.out, i, video_id, single) for i in backbone.layer_ids]
            if not args.overwrite and all(osp.isfile(o) for o in outs):
                continue
            try:
                result = extract_video(osp.join(args.videos, name), video_id, pipeline,
                                       preprocessor, backbone, args.device)
            except (OSError, RuntimeError, ValueError) as e:  # unreadable video: skip it
                logger.error(f'skipped {name}: {type(e).__name__}: {e}')
                failed.append(name)
                continue
            for layer_id, out in zip(backbone.layer_ids, outs):
                os.makedirs(osp.dirname(out), exist_ok=True)
                np.save(out, result['feats'][layer_id].astype(np.float32))
            all_meta[video_id] = result['meta']
    with open(meta_file, 'w') as f:
        json.dump(dict(config=args.config, checkpoint=args.checkpoint,
                       layer_ids=list(backbone.layer_ids),
                       layout='one file per video, [num_features, C]; row i at frame '
                              'first_row_frame + i * feature_stride; the highest tapped '
                              'layer pooled as the backbone pools its output (fc_norm of '
                              'the spatial mean for VideoMAEv2), the others spatial means',
                       videos=all_meta), f, indent=1)
    logger.info(f'features of {len(names) - len(failed)} of {len(names)} videos in '
                f'{args.out}')
    if failed:
        logger.error(f'{len(failed)} videos skipped: {failed}')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
