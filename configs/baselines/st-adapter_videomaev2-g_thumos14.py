# ST-Adapter baseline (Pan et al., NeurIPS 2022; LoSA Table 2) on a frozen VideoMAEv2
# ViT-g (bf16 autocast, as the LoSA ViT-g config): one adapter before the token mixer of
# every block (r = C/2 = 704 and kernel (3, 1, 1), the released ViT-B settings scaled
# with the width), gradients through the frozen backbone to the adapters; the last
# layer's F_N into the same ActionFormer head, same data and schedule as LoSA. See
# docs/baselines.md.
_base_ = ['../losa/losa_videomaev2-g_thumos14.py']
# (LoSA's tap recompute, on in the ViT-g LoSA configs, needs LoSA's per-clip spatial
# blocks: off here.)
model = dict(
    backbone=dict(type='PEFTLayerTapViT', tap_layers=[-1], tap_recompute=False,
                  adapter=dict(type='STAdapter', ratio=0.5, kernel_size=(3, 1, 1),
                               position='attn')),
    neck=dict(_delete_=True, type='LastLayerNeck'))
