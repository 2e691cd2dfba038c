"""Writing frames to mp4 with PyAV, in a form decord reads back frame-exactly."""
import os
from fractions import Fraction

import numpy as np


def write_mp4(path: str, frames: np.ndarray, fps: float, codec: str = 'libx264',
              crf: int = 18) -> None:
    """Encode RGB frames as an mp4 file.

    One encoder thread, explicit timestamps and no macroblock tree make the bytes a
    function of the frames, so the same seed gives the same file.

    Args:
        path: output file; its directory is created.
        frames: [T, H, W, 3] uint8 RGB, H and W even (yuv420p).
        fps: frames per second (a rational close to it is stored).
        codec: ``'libx264'`` (H.264) or ``'mpeg4'`` (MPEG-4 part 2, the fallback when
            the av wheel lacks x264).
        crf: x264 quality; ``mpeg4`` uses a fixed quantiser instead.
    """
    import av  # late: only the generator needs PyAV

    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f'{path}: frames must be [T, H, W, 3] uint8, got {frames.shape} '
                         f'{frames.dtype}')
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f'{path}: frame size {frames.shape[1:3]} must be even for yuv420p')
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if codec == 'libx264':
        # mbtree off: with it, x264's lookahead made the bitstream (and the decoded
        # pixels) differ between two encodings of the same frames in one process
        options = {'crf': str(crf), 'preset': 'veryfast', 'x264-params': 'threads=1:mbtree=0'}
    else:
        options = {'qscale': '2'}
    with av.open(path, mode='w') as container:
        rate = Fraction(fps).limit_denominator(1001)
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = 'yuv420p'
        stream.thread_count = 1
        stream.options = options
        stream.codec_context.time_base = 1 / rate
        for i, frame in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(frame, format='rgb24')
            # explicit timestamps: frame i at i / fps, whatever the muxer would guess
            vf.pts, vf.time_base = i, 1 / rate
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
