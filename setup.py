"""LoSA plugin for MMAction2.

Beside an existing MMAction2 environment (as OpenMMLab projects install)::

    pip install -e .            # checks / completes the runtime dependencies below

The ranges are what the plugin's code needs; the set it is *tested* with is pinned in
``requirements/runtime.txt`` and installed by ``tools/setup_env.sh`` (torch 2.13.0 CPU,
mmengine 0.10.7, mmcv 2.1.0 with ops, mmaction2 1.2.0, mmdet 3.3.0, numpy 1.26,
Python 3.11), which installs this package with ``--no-deps``.
"""
from setuptools import find_packages, setup

install_requires = [
    # F.scaled_dot_product_attention(scale=...) needs 2.1; compat.py allow-lists
    # mmengine's checkpoint classes where torch >= 2.6 loads with weights_only=True
    'torch>=2.1',
    'mmengine>=0.10.0,<1.0.0',
    # mmcv with its compiled ops (mmdet imports mmcv.ops; mmcv-lite is not enough);
    # mmaction2 1.2.0 and mmdet 3.3.0 accept mmcv < 2.2.0
    'mmcv>=2.0.0,<2.2.0',
    'mmaction2>=1.2.0,<2.0.0',
    'mmdet>=3.0.0,<4.0.0',  # FocalLoss of the ActionFormer head
    'importlib_metadata',  # imported by mmaction2 1.2.0 without declaring it
    # mmaction2 1.2.0 calls np.trapz; mmcv 2.1.0 builds against numpy 1.x
    'numpy>=1.22,<2',
    'einops>=0.6',
    'av>=10',  # video decoding (fallback of decord) and the synthetic-video writer
    'matplotlib>=3.5',  # timelines (tools/infer.py) and benchmark figures
    'tqdm',  # progress bars of tools/infer.py
]

setup(
    name='losa_plugin',
    version='0.1.0',
    description='LoSA (Long-Short-range Adapter) for end-to-end temporal action '
    'localization, an MMAction2 plugin',
    packages=find_packages(include=['losa_plugin', 'losa_plugin.*']),
    python_requires='>=3.9',
    install_requires=install_requires,
    extras_require={
        'decord': ['decord>=0.6.0'],  # faster decoding where decord has wheels
        'tests': ['pytest', 'pytest-timeout'],
    },
)
