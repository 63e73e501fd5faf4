"""MaskGate conversion stage (build machine only): prepare crops, train, quantize, evaluate.

TensorFlow is imported only by the modules that train, quantize or evaluate Keras models;
`prepare` needs only the runtime's own dependencies.
"""
