"""Step 4, the file the Pi runs: int8 conversion with bias correction (quantize.py, bias_correction.py) and the
self-test's known answers recorded into the model card (self_test.py). May import every earlier step
(evaluation, training, data) and edge; only convert.cli imports it.
"""
