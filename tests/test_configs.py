"""Every experiment config builds; count_params reports per part and a final line."""
import glob
import os.path as osp
import re
import subprocess
import sys

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from losa_plugin.utils.meta_build import build_model_on_meta

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
CONFIGS = sorted(c for c in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in c)


def _count(model):
    total = sum(p.numel() for p in model.parameters())
    learnable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return learnable, total


@pytest.mark.parametrize('config', CONFIGS, ids=lambda c: osp.relpath(c, ROOT))
def test_config_builds(config):
    cfg = Config.fromfile(config)
    if 'model' not in cfg:
        pytest.skip('a fragment without a model (used through _base_)')
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    model = build_model_on_meta(cfg.model)
    learnable, total = _count(model)
    assert 0 < learnable <= total
    name = osp.basename(config)
    if cfg.model.type != 'TALDetector' or model.backbone is None:
        return
    # adapters inside a frozen backbone (configs/baselines/{st-adapter,aim,adatad}_*) live
    # on the wrapper as ``adapters.*`` and learn; the wrapped network stays frozen
    backbone_params = sum(p.numel() for n, p in model.backbone.named_parameters()
                          if not n.startswith('adapters.'))
    if 'full-ft' in name:
        assert learnable == total  # the backbone trains
    else:
        # frozen backbone: exactly the backbone is excluded from the learnable set
        assert total - learnable == backbone_params
    if name.startswith('losa_'):
        assert model.neck.__class__.__name__ == 'LoSANeck'
    if 'head-only-online' in name or 'full-ft' in name:
        assert model.neck.__class__.__name__ == 'LastLayerNeck'


@pytest.mark.parametrize('config', ['configs/losa/losa_videomaev2-g_thumos14.py',
                                    'configs/losa/losa_slowfast101_thumos14.py'])
def test_count_params_tool(config):
    out = subprocess.run([sys.executable, 'tools/count_params.py', config], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    *_, split, last = out.stdout.strip().splitlines()
    m = re.fullmatch(r'learnable_params=(\d+) total_params=(\d+)', last)
    assert m, last
    learnable, total = int(m.group(1)), int(m.group(2))
    cfg = Config.fromfile(osp.join(ROOT, config))
    init_default_scope('mmaction')
    model = build_model_on_meta(cfg.model)
    assert (learnable, total) == _count(model)
    assert 'neck.short_adapters' in out.stdout and 'head.' in out.stdout
    m = re.fullmatch(r'neck_params=(\d+) head_params=(\d+)', split)
    assert m, split
    neck, head = int(m.group(1)), int(m.group(2))
    assert head == sum(p.numel() for p in model.head.parameters())
    assert neck + head == learnable
    if 'videomaev2-g' in config:
        # the paper's Table 2: 143 M learnable (backbone-side) for LoSA on ViT-g
        assert abs(neck / 143e6 - 1) <= 0.03, neck
