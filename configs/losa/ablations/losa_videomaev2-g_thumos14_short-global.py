# The literal reading of the paper's short-range adapter: attention over the whole window
# (short_range_clips=None), see docs/method.md.
_base_ = ['../losa_videomaev2-g_thumos14.py']
model = dict(neck=dict(short_range_clips=None))
