# Diagnostic: the head-only baseline reading block 2 of 4 instead of the last one. How
# much does an intermediate layer alone carry for localisation and classification?
_base_ = ['../head-only_vit-tiny_synthetic.py']
model = dict(backbone=dict(tap_layers=[2]))
