"""Step 2, training: the MobileNetV2 classifier (train.py), its calibrated scores (calibrate.py: temperature,
mask threshold, reliability) and the pairing with a faster model (fast_first.py). May import convert.data and
edge; never evaluation, quantization or the command.
"""
