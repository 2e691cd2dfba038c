# The head-only baseline with a checkpoint chosen without the test set: 20 of the 200
# training videos (THUMOS-14 'Validation') are held out of training and validate every
# val_interval epochs; best_average_mAP_*.pth is the best on them, tested on 'Test'.
# (The default configs report the last epoch, as ActionFormer.) docs/evaluation.md,
# "Which checkpoint".
_base_ = ['./actionformer_i3d_thumos14_features.py',
          '../_base_/datasets/thumos14_heldout_videos.py']
heldout = {{_base_.thumos14_heldout_videos}}

train_dataloader = dict(dataset=dict(block_list=heldout))
val_dataloader = dict(dataset=dict(subset='Validation', video_ids=heldout))
test_dataloader = dict(dataset=dict(subset='Test', video_ids=None))
val_evaluator = dict(subset='Validation', video_ids=heldout)
test_evaluator = dict(subset='Test', video_ids=None)
default_hooks = dict(checkpoint=dict(save_best='average_mAP', rule='greater'))
