"""Convert an original VideoMAEv2 checkpoint to MMAction2's ``VisionTransformer`` layout.

Usage::

    python tools/convert_videomaev2.py IN.pth OUT.pth [--num-frames 16] [--img-size 224]
        [--drop-head]

The key mapping, the position table and the weights-only load (VideoMAEv2's saved
``args`` allow-listed) are described in ``losa_plugin/utils/videomaev2_convert.py``.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import losa_plugin  # noqa: E402,F401  (its compat shims must precede mmaction.models)
from losa_plugin.utils.videomaev2_convert import (convert_file,  # noqa: E402,F401
                                                  convert_state_dict)
from losa_plugin.utils.videomaev2_convert import state_of as _state_of  # noqa: E402,F401


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='original VideoMAEv2 checkpoint')
    parser.add_argument('dst', help='output MMAction2 checkpoint')
    parser.add_argument('--num-frames', type=int, default=16)
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--drop-head', action='store_true', help='leave out head.*')
    args = parser.parse_args(argv)
    num = convert_file(args.src, args.dst, args.num_frames, args.img_size, args.drop_head)
    sys.stdout.write(f'wrote {num} tensors to {args.dst}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
