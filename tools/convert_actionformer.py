"""Convert an ActionFormer release checkpoint to this plugin's ActionFormerHead.

Usage::

    python tools/convert_actionformer.py IN.pth.tar OUT.pth [--config CONFIG]
        [--iters-per-epoch N]

Input: a checkpoint saved by happyharrycn/actionformer_release's ``train.py``: a dict
with ``state_dict`` (the ``nn.DataParallel``-wrapped model, keys ``module.*``),
``state_dict_ema`` (its exponential moving average, the weights ActionFormer
evaluates), and for non-"best" files ``epoch``, ``optimizer`` and ``scheduler``. Keys
map one to one (LayerNorm weights and biases ``[1, C, 1]`` -> ``[C]``)::

    backbone.embd.N.conv.*               -> head.projection.embed.N.conv.*
    backbone.embd_norm.N.*               -> head.projection.embed_norm.N.*
    backbone.{stem,branch}.N.ln1/ln2.*   -> head.projection.{stem,branch}.N.norm1/norm2.*
      .attn.{query,key,value}_conv.conv.weight -> .attn.{q,k,v}_conv.conv.weight
      .attn.{query,key,value}_norm.*     -> .attn.{q,k,v}_norm.*
      .attn.{query,key,value}.*          -> .attn.{q,k,v}_proj.*
      .attn.proj.*                       -> .attn.out_proj.*
      .mlp.{0,3}.*                       -> .mlp.{0,3}.*
      .drop_path_{attn,mlp}.scale        -> .drop_path_{attn,mlp}.scale
    neck.fpn_norms.N.*                   -> head.fpn_norms.N.*
    {cls,reg}_head.head.N.conv.*         -> head.{cls,reg}_head.tower.N.conv.*
    {cls,reg}_head.norm.N.*              -> head.{cls,reg}_head.norms.N.*
    cls_head.cls_head.conv.*             -> head.cls_head.out_conv.conv.*
    reg_head.offset_head.conv.*          -> head.reg_head.out_conv.conv.*
    reg_head.scale.N.scale               -> head.scales.N

Any other key (relative position encodings, the 'fpn' neck, the 'conv' backbone,
multi-input projections: variants the head does not implement) is an error, as is a
tensor whose shape differs from the model that ``--config`` builds (default: the THUMOS-14
head-only config), or a parameter of that model no key fills. ``head.loss_normalizer``,
which ActionFormer keeps outside its state (and restarts from ``init_loss_norm`` on
resume), is set to the config's ``init_loss_norm``.

Output (mmengine's layout with an EMA hook): ``state_dict`` = the EMA weights (what
``tools/test.py`` evaluates), ``ema_state_dict`` = the raw weights under ``module.``
plus ``steps``; with an ActionFormer ``optimizer`` / ``scheduler`` also ``optimizer``
(AdamW moments mapped parameter by parameter), ``param_schedulers`` (the config's
schedule advanced to the same iteration), ``message_hub`` and ``meta.epoch`` / ``iter``,
so ``tools/train.py CONFIG --resume OUT.pth`` continues ActionFormer's run (or
``load_from`` fine-tunes from it). Files are read with ``torch.load(weights_only=True)``.
"""
import argparse
import os.path as osp
import re
import sys
import warnings
from typing import Dict, List, Optional, Tuple

import torch

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

DEFAULT_CONFIG = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                          'configs/head_only/actionformer_i3d_thumos14_features.py')
_BLOCK = r'backbone\.(stem|branch)\.(\d+)\.'
_P = r'(weight|bias)'
# (ActionFormer key without 'module.', our key, is it a [1, C, 1] LayerNorm tensor)
_RULES: List[Tuple[str, str, bool]] = [
    (rf'backbone\.embd\.(\d+)\.conv\.{_P}', r'head.projection.embed.\1.conv.\2', False),
    (rf'backbone\.embd_norm\.(\d+)\.{_P}', r'head.projection.embed_norm.\1.\2', True),
    (rf'{_BLOCK}ln1\.{_P}', r'head.projection.\1.\2.norm1.\3', True),
    (rf'{_BLOCK}ln2\.{_P}', r'head.projection.\1.\2.norm2.\3', True),
    (rf'{_BLOCK}attn\.query_conv\.conv\.weight', r'head.projection.\1.\2.attn.q_conv.conv.weight',
     False),
    (rf'{_BLOCK}attn\.key_conv\.conv\.weight', r'head.projection.\1.\2.attn.k_conv.conv.weight',
     False),
    (rf'{_BLOCK}attn\.value_conv\.conv\.weight', r'head.projection.\1.\2.attn.v_conv.conv.weight',
     False),
    (rf'{_BLOCK}attn\.query_norm\.{_P}', r'head.projection.\1.\2.attn.q_norm.\3', True),
    (rf'{_BLOCK}attn\.key_norm\.{_P}', r'head.projection.\1.\2.attn.k_norm.\3', True),
    (rf'{_BLOCK}attn\.value_norm\.{_P}', r'head.projection.\1.\2.attn.v_norm.\3', True),
    (rf'{_BLOCK}attn\.query\.{_P}', r'head.projection.\1.\2.attn.q_proj.\3', False),
    (rf'{_BLOCK}attn\.key\.{_P}', r'head.projection.\1.\2.attn.k_proj.\3', False),
    (rf'{_BLOCK}attn\.value\.{_P}', r'head.projection.\1.\2.attn.v_proj.\3', False),
    (rf'{_BLOCK}attn\.proj\.{_P}', r'head.projection.\1.\2.attn.out_proj.\3', False),
    (rf'{_BLOCK}mlp\.(0|3)\.{_P}', r'head.projection.\1.\2.mlp.\3.\4', False),
    (rf'{_BLOCK}drop_path_(attn|mlp)\.scale', r'head.projection.\1.\2.drop_path_\3.scale',
     False),
    (rf'neck\.fpn_norms\.(\d+)\.{_P}', r'head.fpn_norms.\1.\2', True),
    (rf'(cls|reg)_head\.head\.(\d+)\.conv\.{_P}', r'head.\1_head.tower.\2.conv.\3', False),
    (rf'(cls|reg)_head\.norm\.(\d+)\.{_P}', r'head.\1_head.norms.\2.\3', True),
    (rf'cls_head\.cls_head\.conv\.{_P}', r'head.cls_head.out_conv.conv.\1', False),
    (rf'reg_head\.offset_head\.conv\.{_P}', r'head.reg_head.out_conv.conv.\1', False),
    (r'reg_head\.scale\.(\d+)\.scale', r'head.scales.\1', False),
]
_NOT_FROM_ACTIONFORMER = ('head.loss_normalizer', )


def map_key(key: str) -> Optional[Tuple[str, bool]]:
    """Our name for an ActionFormer key (``module.`` optional) and whether the tensor
    is a ``[1, C, 1]`` LayerNorm one; None when the name map has no rule for it."""
    key = key[len('module.'):] if key.startswith('module.') else key
    for pattern, target, is_norm in _RULES:
        if re.fullmatch(pattern, key):
            return re.sub(pattern, target, key), is_norm
    return None


def convert_state_dict(state: Dict[str, torch.Tensor],
                       source: str = '<state>') -> Dict[str, torch.Tensor]:
    """ActionFormer keys -> ``head.*`` keys (see the module docstring).

    Raises:
        KeyError: keys without a rule (listed).
        ValueError: a LayerNorm tensor not shaped ``[1, C, 1]``.
    """
    out, unknown = {}, []
    for key, value in state.items():
        mapped = map_key(key)
        if mapped is None:
            unknown.append(key)
            continue
        new, is_norm = mapped
        if is_norm:
            if value.dim() != 3 or value.shape[0] != 1 or value.shape[2] != 1:
                raise ValueError(f'{source}: {key} has shape {tuple(value.shape)}, expected '
                                 f'ActionFormer\'s LayerNorm [1, C, 1]')
            value = value.reshape(-1)
        out[new] = value
    if unknown:
        raise KeyError(f'{source}: {len(unknown)} ActionFormer keys have no counterpart in '
                       f'ActionFormerHead (unsupported variant: rel_pe, fpn neck, conv '
                       f'backbone, multi-input projection?): {unknown[:10]}')
    return out


def check_against(model_state: Dict[str, torch.Tensor], converted: Dict[str, torch.Tensor],
                  source: str) -> None:
    """Every converted key exists in the model with the same shape, and every model
    tensor except :data:`_NOT_FROM_ACTIONFORMER` is filled."""
    extra = sorted(set(converted) - set(model_state))
    missing = sorted(set(model_state) - set(converted) - set(_NOT_FROM_ACTIONFORMER))
    shapes = [f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(model_state[k].shape)}'
              for k, v in converted.items()
              if k in model_state and v.shape != model_state[k].shape]
    problems = []
    if extra:
        problems.append(f'{len(extra)} keys the model does not have: {extra[:10]}')
    if missing:
        problems.append(f'{len(missing)} model tensors no key fills: {missing[:10]}')
    if shapes:
        problems.append(f'{len(shapes)} shapes differ: {shapes[:10]}')
    if problems:
        raise ValueError(f'{source} does not fit the configured model (pass the config of '
                         f'its data set with --config): ' + '; '.join(problems))


def _actionformer_param_order(names: List[str], groups: List[dict],
                              source: str) -> List[str]:
    """ActionFormer's optimizer index -> parameter name. ``make_optimizer`` puts the
    decayed parameters (weights of convs / linear layers) sorted by name first, then
    the rest sorted; each group's size must agree."""
    norms = {k for k in names if (map_key(k) or ('', False))[1]}
    decay = sorted(k for k in names if k.endswith('weight') and k not in norms)
    rest = sorted(set(names) - set(decay))
    sizes = [len(g['params']) for g in groups]
    if sizes != [len(decay), len(rest)]:
        raise ValueError(f'{source}: optimizer groups of sizes {sizes}, expected '
                         f'[{len(decay)}, {len(rest)}] (decay, no decay) as make_optimizer')
    flat = [int(i) for g in groups for i in g['params']]
    if flat != list(range(len(names))):
        raise ValueError(f'{source}: optimizer parameter indices are not 0..{len(names) - 1} '
                         f'in group order, as torch saves them')
    return decay + rest


def convert_optimizer(af_optim: dict, af_names: List[str], optim_wrapper, model,
                      source: str) -> dict:
    """The config's optimizer state with ActionFormer's AdamW moments, parameter by
    parameter (ours: ``optim_wrapper`` built for ``model``)."""
    index_to_name = _actionformer_param_order(af_names, af_optim['param_groups'], source)
    ours = {id(p): name for name, p in model.named_parameters()}
    target = optim_wrapper.state_dict()
    flat = [p for g in optim_wrapper.optimizer.param_groups for p in g['params']]
    our_index = {ours[id(p)]: i for i, p in enumerate(flat)}
    state = {}
    for idx, moments in af_optim['state'].items():
        name = map_key(index_to_name[int(idx)])[0]
        if name not in our_index:
            raise KeyError(f'{source}: optimizer state of {index_to_name[int(idx)]} -> {name} '
                           f'has no parameter in the configured optimizer')
        shape = flat[our_index[name]].shape
        converted = {}
        for k, v in moments.items():
            if torch.is_tensor(v) and v.dim() > 0:  # moments: the parameter's shape
                if v.numel() != shape.numel():
                    raise ValueError(f'{source}: optimizer {k} of {index_to_name[int(idx)]} '
                                     f'has shape {tuple(v.shape)}, parameter {name} '
                                     f'{tuple(shape)}')
                v = v.reshape(shape)
            converted[k] = v
        state[our_index[name]] = converted
    target['state'] = state
    return target


def _scheduler_states(cfg, optim_wrapper, iters: int, iters_per_epoch: int) -> list:
    """The config's param schedulers built on ``optim_wrapper`` and stepped ``iters``
    times (this also sets the wrapper's current lr)."""
    from mmaction.registry import PARAM_SCHEDULERS
    schedulers = []
    for sc in cfg.get('param_scheduler') or []:
        sc = dict(sc)
        kind = sc.pop('type')
        cls = PARAM_SCHEDULERS.get(kind)
        if cls is None:
            raise KeyError(f'param_scheduler type {kind!r} is not registered')
        if sc.pop('convert_to_iter_based', False):
            schedulers.append(cls.build_iter_from_epoch(optim_wrapper, **sc,
                                                        epoch_length=iters_per_epoch))
        else:
            schedulers.append(cls(optim_wrapper, **sc))
    with warnings.catch_warnings():  # stepping without optimizer steps, on purpose
        warnings.filterwarnings('ignore', message='Detected call of')
        for _ in range(iters):
            for s in schedulers:
                if not s.by_epoch:
                    s.step()
    return [s.state_dict() for s in schedulers]


def convert_checkpoint(ckpt: dict, config: str = DEFAULT_CONFIG,
                       iters_per_epoch: Optional[int] = None, source: str = '<ckpt>') -> dict:
    """An ActionFormer checkpoint dict -> an mmengine checkpoint dict for ``config``."""
    import losa_plugin  # noqa: F401  (compat shims + registration)
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmaction.registry import MODELS

    if not isinstance(ckpt, dict) or 'state_dict' not in ckpt:
        raise KeyError(f'{source}: expected ActionFormer\'s checkpoint dict with '
                       f"'state_dict' (and 'state_dict_ema'), got "
                       f'{sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__}')
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    model = MODELS.build(cfg.model)
    model_state = model.state_dict()
    raw = convert_state_dict(ckpt['state_dict'], f'{source} [state_dict]')
    check_against(model_state, raw, f'{source} [state_dict]')
    ema = None
    if ckpt.get('state_dict_ema') is not None:
        ema = convert_state_dict(ckpt['state_dict_ema'], f'{source} [state_dict_ema]')
        check_against(model_state, ema, f'{source} [state_dict_ema]')
    norm = torch.tensor(float(cfg.model.head.get('init_loss_norm', 100.0)))
    for state in (raw, ema):
        if state is not None:
            state['head.loss_normalizer'] = norm.clone()

    epoch = int(ckpt.get('epoch', 0))
    sched = ckpt.get('scheduler') or {}
    iters = int(sched.get('last_epoch', 0)) if sched else 0
    if iters_per_epoch is None and epoch and iters:
        iters_per_epoch = iters // epoch
    if not iters and iters_per_epoch:
        iters = epoch * iters_per_epoch
    out = dict(meta=dict(epoch=epoch, iter=iters, converted_from=source),
               message_hub=dict(log_scalars={}, runtime_info={}, resumed_keys={}))
    if ema is None:
        out['state_dict'] = raw
    else:  # mmengine's EMA layout: averaged weights in state_dict, raw ones beside
        out['state_dict'] = ema
        out['ema_state_dict'] = {f'module.{k}': v for k, v in raw.items()}
        out['ema_state_dict']['steps'] = torch.tensor(iters)
    if ckpt.get('optimizer') is not None and cfg.get('optim_wrapper') is not None:
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        if sched:
            if not iters_per_epoch:
                raise ValueError(f'{source}: cannot tell the iterations per epoch (epoch '
                                 f'{epoch}, scheduler step {iters}); pass --iters-per-epoch')
            out['param_schedulers'] = _scheduler_states(cfg, wrapper, iters, iters_per_epoch)
        out['optimizer'] = convert_optimizer(ckpt['optimizer'], list(ckpt['state_dict']),
                                             wrapper, model, source)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='ActionFormer checkpoint (epoch_*.pth.tar)')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help='config of the model to convert for (shapes are checked)')
    parser.add_argument('--iters-per-epoch', type=int, default=None,
                        help='training iterations per epoch, when the checkpoint has no '
                             'scheduler state to tell')
    args = parser.parse_args(argv)
    ckpt = torch.load(args.src, map_location='cpu', weights_only=True)
    out = convert_checkpoint(ckpt, args.config, args.iters_per_epoch, source=args.src)
    torch.save(out, args.dst)
    from mmengine.logging import MMLogger
    MMLogger.get_instance('convert_actionformer').info(
        f'wrote {len(out["state_dict"])} tensors (epoch {out["meta"]["epoch"]}, iteration '
        f'{out["meta"]["iter"]}) to {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
