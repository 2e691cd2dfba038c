# Table 4: without Long-Short-range Fusion (plain addition, no gates, no projection).
_base_ = ['../losa_videomaev2-g_thumos14.py']
model = dict(neck=dict(fusion='add'))
