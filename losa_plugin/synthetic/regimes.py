"""The two regimes of the synthetic benchmark: where the pretraining meets the TAL task.

A regime fixes what the backbone is pretrained on (trimmed clips of some classes), the
backbone itself, and the untrimmed videos the TAL strategies are trained and tested on.
docs/synthetic_benchmark.md gives the design of each and the hypotheses it tests; the
``transfer`` regime was fixed there before any LoSA run on it.

* ``aligned``: the backbone is pretrained on trimmed clips of exactly the TAL classes,
  one large object, no clutter; a 4-block ViT. The last layer is then already the best
  feature for the task.
* ``transfer``: as Kinetics -> THUMOS-14. The pretraining classes differ from the TAL
  classes (some TAL motions are never seen in pretraining, some pretraining classes never
  occur in the untrimmed videos); an 8-block ViT, so intermediate layers can differ from
  the last; the untrimmed videos add distractor motion, clutter and gradual action onsets
  and ends, so boundaries are hard and mAP@0.7 means something.
* ``invariant``: the pretraining labels are blind to what the TAL classes need: each
  mirror pair is one pretraining label (Move, Rotate, Scale), the TAL classes are the six
  directed motions; the 8-block ViT, clean videos. Admitted only after checks without
  LoSA showed its premise (docs/synthetic_benchmark.md, "The invariant regime").
  Candidates: ``invariant-deep`` (a 12-block ViT) and ``invariant-built`` (the premise
  built into the pretraining: :class:`InvariancePretrainRecognizer`).
"""
import os.path as osp
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from .config import SyntheticConfig

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'synthetic')

#: Clean clips of one large high-contrast object (no distractors, shake, noise, texture or
#: drift): what the tiny ViT learns from within the CPU budget (docs/synthetic_benchmark.md,
#: "How the data was chosen"). Both regimes pretrain on clips like these.
CLEAN_BIG: Dict[str, object] = dict(
    static_distractors=(0, 0), moving_distractors=(0, 0), camera_jitter=0.0, noise_std=0.0,
    texture_contrast=0.0, illumination_drift=0.0, object_length=(0.45, 0.65),
    move_speed=(0.6, 1.0), min_contrast=120.0)

#: The aligned regime's classes (pretraining = TAL): distinct motion types, one mirror pair.
ALIGNED_CLASSES = ('MoveRight', 'MoveLeft', 'RotateClockwise', 'Grow', 'Blink')
#: The transfer regime's pretraining classes ("Kinetics"): the aligned regime's, so the two
#: regimes share their pretraining clips and differ in the backbone and the TAL task.
TRANSFER_PRETRAIN_CLASSES = ALIGNED_CLASSES
#: The transfer regime's TAL classes ("THUMOS-14"): MoveRight and Grow were seen in
#: pretraining; Shrink (Grow's mirror), RotateCounterClockwise (the other direction of the
#: seen rotation) and OrbitClockwise (a new motion) were not, and telling Grow from Shrink
#: needs the direction of a scale change, which pretraining never asked for. MoveLeft,
#: RotateClockwise and Blink never occur in the untrimmed videos.
TRANSFER_TAL_CLASSES = ('MoveRight', 'Grow', 'Shrink', 'RotateCounterClockwise',
                        'OrbitClockwise')
#: The transfer regime's untrimmed videos: the pretraining look (object size, contrast,
#: speeds) plus a wandering distractor in every video, sometimes a still one, mild shake,
#: noise, texture and drift, and motions that speed up from rest over 0.3-1 s and slow
#: down over the last 0.3-1 s (the annotated segment spans the whole motion).
TRANSFER_TAL_DATA: Dict[str, object] = dict(
    CLEAN_BIG, classes=TRANSFER_TAL_CLASSES, static_distractors=(0, 1),
    moving_distractors=(1, 1), wander_amplitude=0.15, wander_period=(3.0, 6.0),
    camera_jitter=0.5, noise_std=2.0, texture_contrast=10.0, illumination_drift=5.0,
    ramp_in=(0.3, 1.0), ramp_out=(0.3, 1.0))


#: The invariant regime's TAL classes: three mirror pairs, told apart by direction only.
DIRECTED_CLASSES = ('MoveRight', 'MoveLeft', 'RotateClockwise', 'RotateCounterClockwise',
                    'Grow', 'Shrink')
#: ... and its pretraining labels: each pair merged into one, so direction is a nuisance.
MERGED_PAIRS = (('Move', ('MoveRight', 'MoveLeft')),
                ('Rotate', ('RotateClockwise', 'RotateCounterClockwise')),
                ('Scale', ('Grow', 'Shrink')))


@dataclass(frozen=True)
class Regime:
    """One regime of the benchmark.

    Args:
        name (str): ``'aligned'`` or ``'transfer'`` (also the sub-folder of its outputs).
        pretrain_data (dict): :class:`SyntheticConfig` fields of the trimmed
            pretraining clips (over the generator's defaults).
        tal_data (dict): :class:`SyntheticConfig` fields of the untrimmed videos.
        vit_config (str): config file holding the backbone (``vit_var``).
        vit_var (str): the variable of ``vit_config`` holding the ``VisionTransformer``
            dict.
        summary (str): one line for logs and tables.
        seeds (int, optional): seeds of the frozen strategies in the full mode (default:
            the mode's).
        full_ft_seeds (int, optional): seeds of the backbone-training strategies in the
            full mode (default: the mode's).
        pretrain_config (str, optional): the pretraining recognizer's config; its head
            then sets its own class count. Default None: the trimmed pretraining config
            (``benchmark_steps.PRETRAIN_CONFIG``), whose head classifies the clips' labels.
        pretrain_val_classes (tuple, optional): the classes the pretraining's validation
            scores when its config's head does not classify the clips' labels (what
            ``results.json`` reports with the val top-1 curve). Default None: the clips'.
    """
    name: str
    pretrain_data: Dict[str, object]
    tal_data: Dict[str, object]
    vit_config: str
    vit_var: str = 'vit'
    summary: str = ''
    seeds: Optional[int] = None
    full_ft_seeds: Optional[int] = None
    pretrain_config: Optional[str] = None
    pretrain_val_classes: Optional[Tuple[str, ...]] = None

    def pretrain_cfg(self) -> SyntheticConfig:
        """Generator config of the trimmed pretraining clips."""
        return SyntheticConfig(**self.pretrain_data)

    def tal_cfg(self) -> SyntheticConfig:
        """Generator config of the untrimmed TAL videos."""
        return SyntheticConfig(**self.tal_data)

    def class_sets(self) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
        """(pretraining classes, TAL classes), each in label order."""
        return self.pretrain_cfg().label_names, self.tal_cfg().label_names

    def class_groups(self) -> Dict[str, Tuple[str, ...]]:
        """TAL classes whose motion was seen in pretraining and those not; empty when
        every TAL motion was seen (aligned, invariant)."""
        pre, tal = self.pretrain_cfg().classes, self.class_sets()[1]
        unseen = tuple(c for c in tal if c not in pre)
        return dict(seen=tuple(c for c in tal if c in pre), unseen=unseen) if unseen else {}

    def vit(self) -> dict:
        """The backbone's ``VisionTransformer`` config (a plain dict)."""
        from mmengine.config import Config
        cfg = Config.fromfile(self.vit_config)
        if self.vit_var not in cfg:
            raise KeyError(f'{self.vit_config}: no variable {self.vit_var!r} (the regime '
                           f'{self.name!r} reads its backbone from it)')
        return cfg[self.vit_var].to_dict()

    def tal_model_overrides(self) -> Dict[str, object]:
        """Dotted-key overrides that put this regime's backbone into a synthetic TAL
        config (written for the aligned backbone): the ViT and the head's input width."""
        vit = self.vit()
        return {'model.backbone.vit': vit, 'model.head.in_channels': vit['embed_dims']}

    def pretrain_model_overrides(self) -> Dict[str, object]:
        """The same for the pretraining recognizer config."""
        vit = self.vit()
        return {'model.backbone': vit, 'model.cls_head.in_channels': vit['embed_dims']}


REGIMES: Dict[str, Regime] = {
    'aligned': Regime(
        name='aligned',
        pretrain_data=dict(CLEAN_BIG, classes=ALIGNED_CLASSES),
        tal_data=dict(CLEAN_BIG, classes=ALIGNED_CLASSES),
        vit_config=osp.join(CONFIG_DIR, 'vit-tiny_synthetic.py'),
        summary='pretraining classes = TAL classes, clean videos, 4-block ViT'),
    'transfer': Regime(
        name='transfer',
        pretrain_data=dict(CLEAN_BIG, classes=TRANSFER_PRETRAIN_CLASSES),
        tal_data=TRANSFER_TAL_DATA,
        vit_config=osp.join(CONFIG_DIR, 'vit-deep_synthetic.py'),
        vit_var='vit_deep',
        summary='pretraining classes != TAL classes, distractors and gradual onsets, '
        '8-block ViT'),
    'invariant': Regime(
        name='invariant',
        pretrain_data=dict(CLEAN_BIG, classes=DIRECTED_CLASSES, label_groups=MERGED_PAIRS),
        tal_data=dict(CLEAN_BIG, classes=DIRECTED_CLASSES),
        vit_config=osp.join(CONFIG_DIR, 'vit-deep_synthetic.py'),
        vit_var='vit_deep',
        summary='pretraining labels merge each mirror pair (direction a nuisance), TAL '
        'classes the six directed motions, clean videos, 8-block ViT',
        seeds=12, full_ft_seeds=6),
    # candidate B of the invariant regime (tried only because A failed its probe check)
    'invariant-deep': Regime(
        name='invariant-deep',
        pretrain_data=dict(CLEAN_BIG, classes=DIRECTED_CLASSES, label_groups=MERGED_PAIRS),
        tal_data=dict(CLEAN_BIG, classes=DIRECTED_CLASSES),
        vit_config=osp.join(CONFIG_DIR, 'vit-deeper_synthetic.py'),
        vit_var='vit_deeper',
        summary='the invariant regime with a 12-block ViT of width 48',
        seeds=12, full_ft_seeds=6),
    # candidate C: the premise built into the pretraining (one label per directed motion;
    # the recognizer merges each mirror pair, supervises direction at block 4 and removes
    # it from F_N through an adversary)
    'invariant-built': Regime(
        name='invariant-built',
        pretrain_data=dict(CLEAN_BIG, classes=DIRECTED_CLASSES),
        tal_data=dict(CLEAN_BIG, classes=DIRECTED_CLASSES),
        vit_config=osp.join(CONFIG_DIR, 'vit-deep_synthetic.py'),
        vit_var='vit_deep',
        summary='the invariant regime pretrained with direction supervised at block 4 and '
        'removed from F_N by an adversary, 8-block ViT',
        seeds=12, full_ft_seeds=6,
        pretrain_config=osp.join(CONFIG_DIR, 'pretrain_vit-tiny_synthetic-invariant.py'),
        pretrain_val_classes=tuple(name for name, _ in MERGED_PAIRS)),
}

#: The regimes the main job runs by default (``bash tools/run_main.sh``); the others run
#: with ``--regimes`` (docs/synthetic_benchmark.md says which and why).
DEFAULT_REGIMES: Tuple[str, ...] = ('aligned', 'transfer')
