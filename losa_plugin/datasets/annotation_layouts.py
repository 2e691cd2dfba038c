"""The annotation file layouts researchers have, read into one ``database`` form.

Accepted as they are (docs/data.md shows each):

* **ActivityNet-style ``database``**: ``{"database": {video_id: entry}}``. This covers
  the official ActivityNet-v1.3 file (``subset`` ``training`` / ``validation`` /
  ``testing``, no ``fps``), ActionFormer's THUMOS-14 file (``Validation`` / ``Test``,
  ``fps``, ``label_id``) and OpenTAD's THUMOS-14 file (``training`` / ``validation``,
  a frame count ``frame`` instead of ``fps``, ``Ambiguous`` segments).
* **MMAction2's ActivityNet files** (``anet_anno_{train,val,test}.json`` of its BMN /
  BSN tools): ``{"v_<id>": {"duration_second", "duration_frame", "annotations", ...}}``
  without a ``database`` key and without subsets: each file *is* one subset.

Normalised entries hold ``subset`` (None for MMAction2's files: every video of the file
is loaded whatever subset is asked), ``duration``, ``fps`` and / or ``frame`` when the
file gives them, and ``annotations``. MMAction2's video names lose their ``v_`` prefix
(the official ids; the configs' ``file_prefix='v_'`` adds it back for file names) and
their ``duration_frame`` becomes ``frame``; its nominal ``fps`` field is not used, the
rate is ``duration_frame / duration_second`` (its ``rfps``) as for OpenTAD's files.
"""
import json
from typing import Dict, Tuple

DATABASE = 'database'
MMACTION2_ANET = 'mmaction2-activitynet'
_MMACTION2_KEYS = ('duration_second', 'duration_frame')


def read_json(ann_file: str) -> object:
    """The parsed JSON of ``ann_file``; errors name the file."""
    try:
        with open(ann_file) as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f'annotation file not found: {ann_file}') from None
    except json.JSONDecodeError as e:
        raise ValueError(f'{ann_file}: not valid JSON ({e})') from None


def _is_mmaction2_anet(content: dict) -> bool:
    return bool(content) and all(
        isinstance(v, dict) and all(k in v for k in _MMACTION2_KEYS)
        for v in content.values())


def _from_mmaction2(content: dict, ann_file: str) -> Dict[str, dict]:
    database: Dict[str, dict] = {}
    for name, entry in content.items():
        vid = name[2:] if name.startswith('v_') else name
        if vid in database:
            raise ValueError(f"{ann_file}: videos '{name}' and '{vid}' have the same id "
                             "once the 'v_' prefix is removed")
        database[vid] = dict(subset=None, duration=entry['duration_second'],
                             frame=entry['duration_frame'],
                             annotations=entry.get('annotations', []))
    return database


def normalize_layout(content: object, ann_file: str) -> Tuple[Dict[str, dict], str]:
    """``(database, layout)`` of a parsed annotation file.

    Returns:
        ``video_id -> entry`` and the layout's name (:data:`DATABASE` or
        :data:`MMACTION2_ANET`).

    Raises:
        ValueError: naming the file and the layouts it could have been.
    """
    if isinstance(content, dict) and DATABASE in content:
        database = content[DATABASE]
        if not isinstance(database, dict):
            raise ValueError(f"{ann_file}: 'database' must map video ids to entries, got "
                             f'{type(database).__name__}')
        return database, DATABASE
    if isinstance(content, dict) and _is_mmaction2_anet(content):
        return _from_mmaction2(content, ann_file), MMACTION2_ANET
    keys = sorted(content)[:5] if isinstance(content, dict) else type(content).__name__
    raise ValueError(
        f"{ann_file}: not a known annotation layout (top level: {keys}); expected a JSON "
        "object with a 'database' key (ActivityNet-v1.3, ActionFormer, OpenTAD) or "
        "MMAction2's ActivityNet layout (video name -> {'duration_second', "
        "'duration_frame', 'annotations'}); docs/data.md shows each")


def load_database(ann_file: str) -> Dict[str, dict]:
    """``video_id -> entry`` of an annotation file in any accepted layout."""
    return normalize_layout(read_json(ann_file), ann_file)[0]
