# Table 4 on the synthetic benchmark: without Long-Short-range Fusion (plain addition).
_base_ = ['../losa_vit-tiny_synthetic.py']
model = dict(neck=dict(fusion='add'))
