"""Checks of the config's data against its model that must hold before any step runs.

* The head's ``num_classes`` equals the number of classes of every dataset it sees. A
  larger head trains to the end and only fails at evaluation (or never: the extra
  classes just stay untrained); a smaller one fails on the first label past it with an
  indexing error naming neither.
* A raw-video test window (``test_window.size``, frames) holds at least one clip
  (``clip_len x frame_interval`` frames of ``SampleVideoWindow``): a shorter window is
  padded into a clip of repeated frames, silently.

Both are refused at ``before_train`` (train and validation datasets) and
``before_test``, with an error naming the config keys and values.
"""
from typing import Optional

from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper


def _dataset(loop) -> Optional[object]:
    loader = getattr(loop, 'dataloader', None)
    return getattr(loader, 'dataset', None)


def check_num_classes(model, dataset, split: str) -> None:
    """``model.head.num_classes`` against ``dataset.metainfo['classes']``."""
    head = getattr(model, 'head', None)
    num = getattr(head, 'num_classes', None)
    meta = getattr(dataset, 'metainfo', None) or {}
    classes = meta.get('classes')
    if num is None or classes is None:
        return
    if int(num) != len(classes):
        ann = getattr(dataset, 'ann_file', '?')
        hint = (" (class_agnostic=True: the dataset's classes are ('action',))"
                if meta.get('class_agnostic') else '')
        raise ValueError(
            f'model.head.num_classes={num} but the {split} dataset ({ann}) has '
            f'{len(classes)} classes{hint}: {list(classes)[:10]}'
            f"{' ...' if len(classes) > 10 else ''}; set model.head.num_classes="
            f'{len(classes)} (or the dataset\'s class_names)')


def check_test_window(dataset, split: str) -> None:
    """A raw-video test window must hold at least one clip."""
    window = getattr(dataset, 'test_window', None)
    if not window or getattr(dataset, 'input_type', None) != 'video' \
            or not getattr(dataset, 'test_mode', False):
        return
    for t in getattr(getattr(dataset, 'pipeline', None), 'transforms', []):
        if getattr(t, 'mode', None) == 'stride' and hasattr(t, 'clip_len') \
                and hasattr(t, 'frame_interval'):
            clip = int(t.clip_len) * int(t.frame_interval)
            if int(window['size']) < clip:
                raise ValueError(
                    f"{split} dataset: test_window.size={window['size']} frames is shorter "
                    f'than one clip of {type(t).__name__} (clip_len={t.clip_len} x '
                    f'frame_interval={t.frame_interval} = {clip} frames); every window '
                    f'would be padded with repeated frames. Use a size of at least {clip} '
                    f'(a multiple of {clip})')


@HOOKS.register_module()
class DataModelCheckHook(Hook):
    """Refuse a class-count mismatch or a test window shorter than a clip before the
    first step (see the module docstring)."""

    priority = 'VERY_HIGH'

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def before_train(self, runner) -> None:
        model = self._model(runner)
        checks = [('train', _dataset(runner.train_loop))]
        if runner.val_loop is not None:
            checks.append(('val', _dataset(runner.val_loop)))
        for split, dataset in checks:
            if dataset is not None:
                check_num_classes(model, dataset, split)
                check_test_window(dataset, split)

    def before_test(self, runner) -> None:
        dataset = _dataset(runner.test_loop)
        if dataset is not None:
            check_num_classes(self._model(runner), dataset, 'test')
            check_test_window(dataset, 'test')
