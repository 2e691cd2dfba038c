"""VideoMAEv2 checkpoints as its training script saves them: the weights beside the
command line (``args``, an ``argparse.Namespace``), the optimizer state and the epoch.
They convert through torch's weights-only load with ``argparse.Namespace`` allow-listed
for that load only; any other class is refused, naming it."""
import argparse
import subprocess
import sys

import pytest
import torch
from mmaction.registry import MODELS

from losa_plugin.utils.videomaev2_convert import SAFE_GLOBALS, convert_file, load_checkpoint
from tests.test_convert_videomaev2 import (CLIP, ROOT, SIZE, TOOL, random_vit,
                                           to_videomaev2_layout, vit_cfg)


class Opaque:
    """A class no weights-only load knows."""


def _videomaev2_checkpoint(vit):
    args = argparse.Namespace(model='vit_small_patch16_224', input_size=SIZE,
                              num_frames=CLIP, tubelet_size=2, lr=1e-3, layer_decay=0.9,
                              opt_betas=[0.9, 0.999], data_path='/data/k710', seed=0,
                              finetune=None, use_mean_pooling=True)
    state = to_videomaev2_layout(vit)
    optimizer = dict(state={0: dict(step=torch.tensor(3.0), exp_avg=torch.zeros(3))},
                     param_groups=[dict(lr=1e-3, params=[0])])
    return dict(model=state, optimizer=optimizer, epoch=34, args=args), state


def test_checkpoint_with_args_round_trip(tmp_path):
    vit = random_vit()
    ckpt, original = _videomaev2_checkpoint(vit)
    src, dst = tmp_path / 'vit_s_k710_ft.pth', tmp_path / 'mmaction.pth'
    torch.save(ckpt, src)
    with pytest.raises(Exception, match='argparse.Namespace'):  # torch's own default
        torch.load(src, weights_only=True)
    res = subprocess.run([sys.executable, TOOL, str(src), str(dst), '--num-frames', str(CLIP),
                          '--img-size', str(SIZE)], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    state = torch.load(dst, map_location='cpu', weights_only=True)['state_dict']
    fresh = MODELS.build(vit_cfg())
    fresh.load_state_dict({k[len('backbone.'):]: v for k, v in state.items()
                           if k.startswith('backbone.')}, strict=True)
    for key, value in vit.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    assert torch.equal(state['cls_head.fc_cls.weight'], original['head.weight'])
    # the library entry point gives the same file content
    assert convert_file(str(src), str(tmp_path / 'lib.pth'), CLIP, SIZE) == len(state)
    # the allow-list was scoped to the load
    assert not set(SAFE_GLOBALS) & set(torch.serialization.get_safe_globals())
    assert load_checkpoint(str(src))['args'].num_frames == CLIP


def test_other_classes_are_refused_naming_them(tmp_path):
    vit = random_vit()
    ckpt, _ = _videomaev2_checkpoint(vit)
    ckpt['extra'] = Opaque()
    src = tmp_path / 'odd.pth'
    torch.save(ckpt, src)
    with pytest.raises(ValueError, match=r'odd.pth: holds .*Opaque, which is outside the '
                                         r'allow-list'):
        load_checkpoint(str(src))
    res = subprocess.run([sys.executable, TOOL, str(src), str(tmp_path / 'o.pth')],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode != 0 and 'Opaque' in res.stderr
    assert not (tmp_path / 'o.pth').exists()
