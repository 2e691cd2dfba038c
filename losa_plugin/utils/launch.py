"""Shared set-up of ``tools/train.py`` and ``tools/test.py``: config merging, device and
distributed back-end selection (nccl on GPU, gloo on CPU), chosen automatically."""
import argparse
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config, DictAction
from mmengine.logging import print_log

from losa_plugin import compat


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--work-dir', help='the directory to save logs and checkpoints')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. train_cfg.max_epochs=3 '
        'train_dataloader.batch_size=1')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torchrun sets LOCAL_RANK; older launchers pass --local_rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args: argparse.Namespace) -> Config:
    """Load the config, apply ``--cfg-options`` and ``--work-dir``, pick the back-end."""
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file not found: {args.config}')
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    quiet_console(cfg)
    env_cfg = cfg.setdefault('env_cfg', {})
    env_cfg.setdefault('dist_cfg', {})['backend'] = compat.dist_backend()
    if args.launcher != 'none' and compat.init_cpu_distributed(args.launcher):
        find_unused = cfg.get('find_unused_parameters', False)
        wrapper = cfg.get('model_wrapper_cfg', None) or {}
        cfg.model_wrapper_cfg = {**compat.cpu_ddp_wrapper_cfg(find_unused), **wrapper, 'device_ids': None}
        print_log('no CUDA device: initialised a gloo process group for CPU training',
                  logger='current')
    return cfg


def quiet_console(cfg: Config) -> None:
    """What a person at the console of ``tools/train.py`` / ``tools/test.py`` wants: one
    summary of the optimizer's parameters instead of a line per (frozen) parameter, and a
    progress bar over evaluation (on a terminal)."""
    from losa_plugin.engine import use_param_summary_constructor
    use_param_summary_constructor(cfg)
    if cfg.get('default_hooks') is None:
        cfg.default_hooks = {}
    cfg.default_hooks.setdefault('eval_progress', dict(type='EvalProgressHook'))


def enable_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper to mixed precision (CUDA only in mmengine 0.10.7)."""
    if compat.default_device() != 'cuda':
        print_log('--amp ignored: mmengine 0.10.7 supports automatic mixed precision on '
                  'CUDA only; training in fp32 on the CPU', logger='current', level=30)
        return
    optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if optim_wrapper not in ('OptimWrapper', 'AmpOptimWrapper'):
        raise ValueError(f'--amp needs optim_wrapper.type OptimWrapper or AmpOptimWrapper, '
                         f'got {optim_wrapper}')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def shutdown_distributed() -> None:
    """Destroy the default process group, if any, once a launched job has finished.

    Call it after the last reference to the runner (whose DDP wrapper holds the group) is
    gone. Left to interpreter exit, a gloo worker thread may still be releasing a
    finished collective's tensors (mmengine's result collection broadcasts one) while
    Python finalizes; it then cannot take the GIL and the rank aborts ("terminate called
    without an active exception") after all its work is done. Destroying the group here,
    with Python alive, joins those threads first. Every rank calls it after its last
    collective, so no rank is left waiting.
    """
    import gc

    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        gc.collect()  # drop cycles that still reference the DDP wrapper
        dist.destroy_process_group()
