"""Every knob of the synthetic video generator in one dataclass.

Sizes and speeds are relative to the frame (fractions of the shorter side / frame
width per second), so changing ``height`` / ``width`` keeps the task the same; times
are in seconds, so changing ``fps`` does too.
"""
from dataclasses import asdict, dataclass, fields
from typing import Optional, Tuple

Range = Tuple[float, float]

DEFAULT_CLASSES: Tuple[str, ...] = ('MoveRight', 'MoveLeft', 'RotateClockwise',
                                    'RotateCounterClockwise', 'Grow', 'Shrink')
BACKGROUND_CLASS = 'Background'


@dataclass
class SyntheticConfig:
    """Configuration of :func:`generate_untrimmed` and :func:`generate_trimmed`.

    Video format:
        height (int): frame height in pixels. Default 64.
        width (int): frame width in pixels. Default 64.
        fps (float): frames per second. Default 12.0.
        codec (str): ``'libx264'`` (default) or ``'mpeg4'``; both decode with decord.
        crf (int): x264 constant rate factor (quality; lower = better). Default 20.

    Classes:
        classes (tuple[str]): motion names from :data:`MOTIONS`, in label order.
            Default: three mirror pairs (move right / left, rotate clockwise /
            counter-clockwise, grow / shrink), so a single frame never tells the class.

    Untrimmed timeline:
        video_duration (Range): seconds, uniform. Default (12, 32).
        action_duration (Range): seconds, log-uniform, so short actions (below one
            16-frame clip) and long ones (many clips) both occur. Default (0.5, 16).
        gap (Range): seconds of background between consecutive actions. Default (0.5, 4).
        overlap_prob (float): chance that an action starts before the previous one
            ends (performed by another object). Default 0.15.
        max_overlap (float): overlap as a fraction of the shorter action. Default 0.4.
        idle_lead (Range): seconds the actor is on screen, still, before acting.
        idle_tail (Range): seconds it stays, still, after acting. Both default (0, 1.5).
        ramp_in (Range): seconds over which an action's motion speeds up from rest to
            full speed (a linear ease-in of the motion's clock), so its onset is gradual
            and its first frames barely move. Default (0, 0): full speed from the first
            frame. A ramp longer than half the action is shortened to half of it.
        ramp_out (Range): the same at the end (ease-out). Default (0, 0).
        test_fraction (float): share of videos in subset ``'Test'`` (rest ``'Validation'``,
            the THUMOS-14 training subset). Default 1/3.
        clip_len (int): frames per backbone clip, only for the statistics. Default 16.

    Trimmed clips:
        clip_duration (Range): seconds, uniform; the action spans the whole clip.
            Default (1.5, 3.0) (18-36 frames at 12 fps).
        val_fraction (float): share of clips per class in the val list. Default 0.2.
        with_background (bool): add a ``'Background'`` class (idle objects and
            distractors only) as the last label. Default False.
        label_groups (tuple, optional): ``((label, (motion, ...)), ...)``: each label
            names a group of ``classes`` (every motion in exactly one group), e.g.
            ``(('Move', ('MoveRight', 'MoveLeft')), ...)``; clips of a motion get its
            group's label and ``label_names`` are the groups'. Trimmed clips only (a
            pretraining blind to what separates a group's motions). Default None: one
            label per motion.

    Objects (actors and distractors share the same appearance distribution, so
    appearance tells neither whether an object acts nor how):
        object_length (Range): full length of the long axis, fraction of
            ``min(height, width)``. Default (0.22, 0.36).
        object_aspect (Range): length / width. Default (1.8, 3.0): elongated, so
            rotation is visible.
        min_contrast (float): minimum RGB distance (0-255) between an object's colour and
            the mean background colour. Default 80.

    Motions:
        move_speed (Range): frame widths per second. Default (0.3, 0.6).
        move_tilt (float): max deviation of the move direction from horizontal, degrees.
            Default 25.
        rotate_speed (Range): degrees per second. Default (120, 240).
        scale_period (Range): seconds per grow / shrink cycle (sawtooth). Default (0.8, 2.0).
        scale_range (Range): size multiplier at the two ends of a cycle. Default (0.5, 1.3).
        blink_freq (Range): Hz of the ``'Blink'`` motion. Default (1.5, 3.0).
        orbit_speed (Range): degrees per second of the ``'Orbit*'`` motions. Default (90, 180).

    Distractors and nuisances:
        static_distractors (tuple[int, int]): inclusive count range. Default (0, 3).
        moving_distractors (tuple[int, int]): inclusive count range; they wander along
            smooth random paths with no consistent direction. Default (0, 2).
        wander_amplitude (float): fraction of the frame a wanderer strays. Default 0.12.
        wander_period (Range): seconds per oscillation of a wanderer's path; with the
            amplitude it keeps wanderers slower than the slowest move. Default (4, 10).
        camera_jitter (float): pixels of smooth camera shake (amplitude). Default 1.0.
        noise_std (float): per-pixel Gaussian noise, 0-255 scale. Default 4.0.
        texture_contrast (float): amplitude of background texture, 0-255. Default 25.
        illumination_drift (float): amplitude of slow global brightness change, 0-255.
            Default 10.
    """
    height: int = 64
    width: int = 64
    fps: float = 12.0
    codec: str = 'libx264'
    crf: int = 20

    classes: Tuple[str, ...] = DEFAULT_CLASSES

    video_duration: Range = (12.0, 32.0)
    action_duration: Range = (0.5, 16.0)
    gap: Range = (0.5, 4.0)
    overlap_prob: float = 0.15
    max_overlap: float = 0.4
    idle_lead: Range = (0.0, 1.5)
    idle_tail: Range = (0.0, 1.5)
    ramp_in: Range = (0.0, 0.0)
    ramp_out: Range = (0.0, 0.0)
    test_fraction: float = 1.0 / 3.0
    clip_len: int = 16

    clip_duration: Range = (1.5, 3.0)
    val_fraction: float = 0.2
    with_background: bool = False
    label_groups: Optional[Tuple[Tuple[str, Tuple[str, ...]], ...]] = None

    object_length: Range = (0.22, 0.36)
    object_aspect: Range = (1.8, 3.0)
    min_contrast: float = 80.0

    move_speed: Range = (0.3, 0.6)
    move_tilt: float = 25.0
    rotate_speed: Range = (120.0, 240.0)
    scale_period: Range = (0.8, 2.0)
    scale_range: Range = (0.5, 1.3)
    blink_freq: Range = (1.5, 3.0)
    orbit_speed: Range = (90.0, 180.0)

    static_distractors: Tuple[int, int] = (0, 3)
    moving_distractors: Tuple[int, int] = (0, 2)
    wander_amplitude: float = 0.12
    wander_period: Range = (4.0, 10.0)
    camera_jitter: float = 1.0
    noise_std: float = 4.0
    texture_contrast: float = 25.0
    illumination_drift: float = 10.0

    def __post_init__(self) -> None:
        self.classes = tuple(self.classes)
        if self.label_groups is not None:
            self.label_groups = tuple((str(name), tuple(motions))
                                      for name, motions in self.label_groups)
        self.validate()

    @property
    def label_names(self) -> Tuple[str, ...]:
        """Class names in label order (the groups' with ``label_groups``), with
        ``'Background'`` last if enabled."""
        names = (self.classes if self.label_groups is None
                 else tuple(name for name, _ in self.label_groups))
        return names + ((BACKGROUND_CLASS, ) if self.with_background else ())

    def motion_label(self, motion: int) -> int:
        """The label of ``classes[motion]`` (its group's index with ``label_groups``;
        ``len(classes)``, the background, maps to the last label)."""
        if motion == len(self.classes):
            return len(self.label_names) - 1
        if self.label_groups is None:
            return motion
        name = self.classes[motion]
        return next(k for k, (_, group) in enumerate(self.label_groups) if name in group)

    def to_dict(self) -> dict:
        d = asdict(self)
        # left out while unset, so configs written before the field keep their hashes
        # (the shipped backbones' keys, the clip folders' names)
        if d['label_groups'] is None:
            del d['label_groups']
        return d

    @classmethod
    def from_dict(cls, d: dict) -> 'SyntheticConfig':
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f'SyntheticConfig: unknown keys {unknown}; known: {sorted(known)}')
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    def validate(self) -> None:
        """Raise ValueError naming the field whose value is out of range."""
        from .motions import MOTIONS  # late: motions imports nothing from here at runtime
        if self.height < 16 or self.width < 16 or self.height % 2 or self.width % 2:
            raise ValueError(f'SyntheticConfig: height/width must be even and >= 16, got '
                             f'{self.height}x{self.width}')
        if self.fps <= 0:
            raise ValueError(f'SyntheticConfig.fps must be > 0, got {self.fps}')
        if self.codec not in ('libx264', 'mpeg4'):
            raise ValueError(f"SyntheticConfig.codec must be 'libx264' or 'mpeg4', got "
                             f'{self.codec!r}')
        if not self.classes:
            raise ValueError('SyntheticConfig.classes is empty')
        bad = [c for c in self.classes if c not in MOTIONS]
        if bad:
            raise ValueError(f'SyntheticConfig.classes: unknown motions {bad}; available: '
                             f'{sorted(MOTIONS)}')
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f'SyntheticConfig.classes has duplicates: {self.classes}')
        if self.label_groups is not None:
            grouped = [m for _, group in self.label_groups for m in group]
            names = [name for name, _ in self.label_groups]
            if sorted(grouped) != sorted(self.classes) or len(set(names)) != len(names) \
                    or not all(group for _, group in self.label_groups):
                raise ValueError('SyntheticConfig.label_groups must put every motion of '
                                 f'classes {self.classes} in exactly one non-empty group '
                                 f'with distinct names, got {self.label_groups}')
        for name in ('video_duration', 'action_duration', 'gap', 'idle_lead', 'idle_tail',
                     'ramp_in', 'ramp_out',
                     'clip_duration', 'object_length', 'object_aspect', 'move_speed',
                     'rotate_speed', 'scale_period', 'scale_range', 'blink_freq',
                     'orbit_speed', 'wander_period', 'static_distractors',
                     'moving_distractors'):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise ValueError(f'SyntheticConfig.{name} must be (low, high) with '
                                 f'0 <= low <= high, got {getattr(self, name)}')
        if self.action_duration[0] <= 0:
            raise ValueError('SyntheticConfig.action_duration must start above 0, got '
                             f'{self.action_duration}')
        if self.action_duration[0] + self.gap[1] + self.gap[0] > self.video_duration[0]:
            raise ValueError(f'SyntheticConfig: the shortest action ({self.action_duration[0]} s) '
                             f'with the largest lead-in gap ({self.gap[1]} s) does not fit the '
                             f'shortest video ({self.video_duration[0]} s)')
        if self.clip_duration[0] * self.fps < 2:
            raise ValueError(f'SyntheticConfig.clip_duration {self.clip_duration} gives '
                             f'fewer than 2 frames at {self.fps} fps')
        for name in ('overlap_prob', 'max_overlap', 'test_fraction', 'val_fraction'):
            v = getattr(self, name)
            if not 0 <= v < 1:
                raise ValueError(f'SyntheticConfig.{name} must be in [0, 1), got {v}')
