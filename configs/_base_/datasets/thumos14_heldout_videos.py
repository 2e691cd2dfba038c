# A held-out part of THUMOS-14's training videos (its 'Validation' subset) for choosing
# a checkpoint without the test set: every 10th of the 200 videos in sorted id order,
# starting at the first (20 videos, 228 segments, all 20 classes). The same ids in
# OpenTAD's file (its 'training' subset). Used by
# configs/head_only/actionformer_i3d_thumos14_features_heldout-val.py; docs/evaluation.md.
thumos14_heldout_videos = [
    'video_validation_0000051', 'video_validation_0000151', 'video_validation_0000161',
    'video_validation_0000171', 'video_validation_0000181', 'video_validation_0000201',
    'video_validation_0000261', 'video_validation_0000281', 'video_validation_0000311',
    'video_validation_0000361', 'video_validation_0000411', 'video_validation_0000481',
    'video_validation_0000661', 'video_validation_0000681', 'video_validation_0000781',
    'video_validation_0000851', 'video_validation_0000901', 'video_validation_0000931',
    'video_validation_0000941', 'video_validation_0000981',
]
