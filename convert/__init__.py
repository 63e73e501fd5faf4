"""MaskGate conversion stage (build machine only): prepare crops, train, quantize, evaluate.

TensorFlow is imported only by the modules that train, quantize or evaluate Keras models;
`prepare` needs only the runtime's own dependencies.

One folder per step, each importing only the steps before it: data/ (photos to crops), training/,
evaluation/, quantization/; cli.py (`maskgate-convert`) runs them. Any step may import edge; edge never
imports convert.
"""
