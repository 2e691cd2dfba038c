"""The parameter-efficient baselines on the synthetic benchmark (docs/baselines.md).

``BASELINE_STRATEGIES`` maps a strategy name (the same names as ``tools/benchmark.py
--strategies``) to its config, a model delta over
``configs/synthetic/base_tal_vit-tiny_synthetic.py``; ``tools/synthetic_benchmark.py
--strategies`` accepts these names. ST-Adapter, AIM and AdaTAD train through the frozen
backbone (no tap cache; the seeds of the strategies that train the backbone); UniPT is a
neck over the frozen taps.
"""
import os.path as osp
from typing import Dict

_CONFIG_DIR = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                       'configs', 'synthetic', 'baselines')

#: strategy name -> synthetic config
BASELINE_STRATEGIES: Dict[str, str] = {
    name: osp.join(_CONFIG_DIR, f'{prefix}_vit-tiny_synthetic.py')
    for name, prefix in (('st_adapter', 'st-adapter'), ('aim', 'aim'), ('unipt', 'unipt'),
                         ('adatad', 'adatad'))
}
