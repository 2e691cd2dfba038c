"""The ordered class list of an annotation file, given or derived.

Labels map to indices by *name* into this list, so an annotation file holding only
some of the classes (a subset annotation, a custom split) still maps every name to its
index in the full list, provided the full list is given.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

from mmengine.logging import MMLogger

# Labels that are not classes: THUMOS-14's "Ambiguous" marks unclear parts of a video
# (OpenTAD's file keeps them; ActionFormer's file has none). The datasets and the
# metric drop them alike.
DEFAULT_IGNORE_LABELS = ('Ambiguous', )
_PLACEHOLDER = '<label_id {}>'


def read_class_file(path: str) -> List[str]:
    """Names, one a line (blank lines skipped); errors name the file."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'class list file not found: {path}; class_names takes a text file with one '
            'class name a line (relative paths follow data_root), a list of names, or '
            'None to derive the list from the annotation file')
    with open(path) as f:
        names = [line.strip() for line in f if line.strip()]
    if not names:
        raise ValueError(f'class list file {path} holds no names')
    return names


def _check_unique(names: Sequence[str], where: str) -> None:
    seen = set()
    dup = [n for n in names if n in seen or seen.add(n)]
    if dup:
        raise ValueError(f'{where}: class names repeat: {dup[:5]}')


def _derive(database: Dict[str, dict], ann_file: str, ignore: set) -> List[str]:
    """By ``label_id`` when every annotation carries one (THUMOS-14), else sorted names
    (ActivityNet-v1.3, OpenTAD)."""
    by_id: Dict[int, str] = {}
    id_of: Dict[str, int] = {}
    names, all_have_id = set(), True
    for vid, entry in database.items():
        for ann in entry.get('annotations', []):
            label = ann['label']
            if label in ignore:
                continue
            names.add(label)
            if 'label_id' not in ann:
                all_have_id = False
                continue
            lid = int(ann['label_id'])
            if by_id.setdefault(lid, label) != label:
                raise ValueError(f"{ann_file}: video '{vid}': label_id {lid} is '{label}' "
                                 f"here but '{by_id[lid]}' elsewhere")
            if id_of.setdefault(label, lid) != lid:
                raise ValueError(f"{ann_file}: video '{vid}': '{label}' has label_id {lid} "
                                 f'here but {id_of[label]} elsewhere')
    if not (all_have_id and by_id):
        return sorted(names)
    if min(by_id) < 0:
        raise ValueError(f'{ann_file}: negative label_id {min(by_id)}')
    # label_id is the index (as ActionFormer reads it), also when the file holds only
    # some of the classes; ids it lacks get placeholder names
    missing = sorted(set(range(max(by_id) + 1)) - set(by_id))
    if missing:
        MMLogger.get_current_instance().warning(
            f'{ann_file}: label_ids run to {max(by_id)} but {len(missing)} are absent '
            f'({missing[:10]}): classes are indexed by label_id, the absent ones named '
            f"'{_PLACEHOLDER.format(missing[0])}' ...; give the full list with "
            'class_names to name them')
    return [by_id.get(k, _PLACEHOLDER.format(k)) for k in range(max(by_id) + 1)]


def resolve_class_names(database: Dict[str, dict],
                        class_names: Optional[Union[Sequence[str], str]] = None,
                        ann_file: str = '<database>',
                        ignore_labels: Sequence[str] = DEFAULT_IGNORE_LABELS) -> List[str]:
    """The ordered class list.

    Args:
        database: ``video_id -> entry`` (every subset: the list is the same for all).
        class_names: a list of names, a path to a text file with one name a line, or
            None to derive the list from the file: by ``label_id`` when every
            annotation carries one (THUMOS-14; ``label_id`` is the index, ids the file
            lacks get placeholder names, with a warning), else sorted names
            (ActivityNet-v1.3, OpenTAD).
        ann_file: for messages.
        ignore_labels: labels that are not classes (default ``('Ambiguous',)``).

    When a list is given and the file's ``label_id`` disagree with its indices, the
    names decide and a warning says so.
    """
    if class_names is None:
        return _derive(database, ann_file, set(ignore_labels))
    if isinstance(class_names, str):
        names = read_class_file(class_names)
        where = class_names
    else:
        names, where = [str(n) for n in class_names], 'class_names'
    _check_unique(names, where)
    index = {n: i for i, n in enumerate(names)}
    moved = {(a['label'], int(a['label_id'])) for e in database.values()
             for a in e.get('annotations', []) if 'label_id' in a and a['label'] in index
             and index[a['label']] != int(a['label_id'])}
    if moved:
        shown = ', '.join(f"'{n}' id {i} -> index {index[n]}" for n, i in sorted(moved)[:3])
        MMLogger.get_current_instance().warning(
            f"{ann_file}: {len(moved)} label_ids differ from their name's index in "
            f'{where} ({shown}); labels follow the class list by name')
    return names
