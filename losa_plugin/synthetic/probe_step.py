"""The benchmark's linear-probe step: every block of a regime's pretrained backbone,
probed on a set of trimmed clips (the pretraining clips for ``--probe``, the TAL-class
clips for the qualification checks)."""
import os.path as osp
import time
from typing import Dict

from mmengine.logging import MMLogger

from .regimes import CONFIG_DIR, Regime

#: the synthetic LoSA config: its backbone taps every block
LOSA_CONFIG = osp.join(CONFIG_DIR, 'losa_vit-tiny_synthetic.py')


def run_layer_probe(regime: Regime, ckpt: str, clips: Dict[str, str], num_classes: int,
                    threads: int = 1) -> Dict[str, float]:
    """Linear-probe val accuracy of every block of ``regime``'s backbone loaded from
    ``ckpt`` (``layer<id>/mean`` and ``layer<id>/grid``, and ``last_pooled/*`` for the
    backbone's own pooling of the last block, ``F_N``).

    Args:
        regime: whose backbone (its ViT in the synthetic LoSA config, every block tapped).
        ckpt: the pretrained backbone.
        clips: ``train_list``, ``val_list`` and ``clip_dir`` of the trimmed clips.
        num_classes: labels in the lists (chance is ``1 / num_classes``).
        threads: torch threads.
    """
    import torch

    import losa_plugin  # noqa: F401  (registration before mmaction.models)
    from mmengine.config import Config
    from mmaction.registry import MODELS

    from .layer_probe import probe_layers
    torch.set_num_threads(threads)
    start = time.process_time()
    cfg = Config.fromfile(LOSA_CONFIG)
    cfg.merge_from_dict(regime.tal_model_overrides())
    backbone = MODELS.build(dict(cfg.model.backbone, pretrained=ckpt, tap_layers=None))
    backbone.init_weights()
    pre = cfg.model.data_preprocessor
    acc = probe_layers(backbone, clips['train_list'], clips['val_list'], clips['clip_dir'],
                       num_classes, pre['mean'], pre['std'])
    MMLogger.get_current_instance().info(
        f'{regime.name}: layer probes on {clips["clip_dir"]} (val accuracy, chance '
        f'{1 / num_classes:.2f}, {time.process_time() - start:.0f} CPU-s): '
        + ', '.join(f'{k} {v:.2f}' for k, v in acc.items()))
    return acc
