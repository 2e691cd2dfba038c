# Diagnostic: LoSA with a LayerNorm on F_N (the pooled last layer). Its adapters' outputs
# measured ~2 % of the raw F_N's RMS, so the head hardly sees them; normalised, F_N and
# the adapters are on comparable scales. Identity at init: equals head-only_..._norm.py.
_base_ = ['../losa_vit-tiny_synthetic.py']
model = dict(neck=dict(last_norm=True))
