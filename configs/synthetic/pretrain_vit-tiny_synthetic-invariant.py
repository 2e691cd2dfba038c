# Pretraining of the invariant-built regime (docs/synthetic_benchmark.md, "The invariant
# regime", candidate C): the trimmed pretraining with the premise built in. The clips
# carry the six directed motions in mirror-pair order (label // 2 = the pair, label % 2
# = the direction); the main head classifies the three pairs (Move, Rotate, Scale) from
# the backbone's usual output, a linear head the six directed motions from block 4 per
# temporal step, and an adversary behind a gradient reversal the direction from F_N per
# temporal step (losa_plugin/synthetic/invariance_recognizer.py). Val top-1 is the
# pairs' (what TakeoffLRSchedule watches). The 8-block backbone comes in through the
# tool's overrides (Regime.pretrain_model_overrides), as for the other regimes.
_base_ = ['./pretrain_vit-tiny_synthetic-trimmed.py']

num_classes = 3  # mirror pairs; the data's labels are the 6 directed motions
model = dict(
    type='InvariancePretrainRecognizer',
    cls_head=dict(num_classes=num_classes, topk=(1, )),  # top-5 of 3 classes is always 1
    aux_block=4,
    aux_weight=1.0,
    adv_weight=1.0,
    adv_lambda=1.0,
    adv_hidden_dims=64)

custom_imports = dict(imports=['losa_plugin', 'losa_plugin.synthetic.takeoff_schedule',
                               'losa_plugin.synthetic.invariance_recognizer'],
                      allow_failed_imports=False)
