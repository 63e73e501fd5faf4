"""Bias correction for the int8 conversion: the mean error that rounding the weights to int8 adds to each output
channel is measured on the calibration crops and taken out of the layer's bias before the model is converted
(Nagel et al. 2019, "Data-Free Quantization Through Weight Equalization and Bias Correction", section 4.2, in
its empirical form).

TFLite quantizes convolution and dense kernels per output channel, symmetric, to -127..127. For a layer with
input x and kernel W, the int8 model computes about conv(x, Q(W)) instead of conv(x, W); the per-channel mean of
conv(x, Q(W) - W) over the calibration crops (x as the float model sees it) is a systematic shift, which the
bias absorbs: MobileNetV2's convolutions have none, so the following BatchNormalization's moving mean takes it
(the converter folds it into the int8 layer's bias); the Dense layers' own biases take theirs.

Only the copy converted to int8 is corrected: `corrected_for_int8` restores the float weights on exit. It
expects the model `maskgate-convert train` builds: a chain of top-level layers, one of them the MobileNetV2
backbone, every convolution in it followed by its BatchNormalization.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from edge.errors import SetupError

log = logging.getLogger(__name__)

BATCH = 10


class BiasCorrectionError(SetupError, ValueError):
    """The model is not built the way the correction expects (convert it with `--no-bias-correction`)."""


def quantized_kernel(kernel: np.ndarray) -> np.ndarray:
    """The kernel as TFLite's int8 weights represent it: per output channel (the last axis; a depthwise kernel's
    channels are its third), symmetric, -127..127, back in float."""
    depthwise = kernel.ndim == 4 and kernel.shape[-1] == 1
    channels = kernel.shape[2] if depthwise else kernel.shape[-1]
    flat = kernel.reshape(-1, channels)
    scale = np.maximum(np.abs(flat).max(axis=0), 1e-8) / 127.0
    return (np.clip(np.round(flat / scale), -127, 127) * scale).reshape(kernel.shape).astype(np.float32)


def _conv_shift(layer, inputs, kernel_error) -> np.ndarray:
    """Per output channel, the sum over the batch of the spatial mean of the layer's output error."""
    import keras
    import tensorflow as tf

    strides = (1, *layer.strides, 1)
    padding = layer.padding.upper()
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        error = tf.nn.depthwise_conv2d(inputs, kernel_error, strides=strides, padding=padding)
    else:
        error = tf.nn.conv2d(inputs, kernel_error, strides=strides, padding=padding)
    return tf.reduce_sum(tf.reduce_mean(error, axis=(1, 2)), axis=0).numpy()


def _backbone_plan(backbone) -> tuple[list, list, object]:
    """The backbone's convolutions, the BatchNormalization after each, and a model giving every convolution's input."""
    import keras

    convs = [
        layer for layer in backbone.layers if isinstance(layer, keras.layers.Conv2D | keras.layers.DepthwiseConv2D)
    ]
    order = [layer.name for layer in backbone.layers]
    norms = []
    for conv in convs:
        following = backbone.layers[order.index(conv.name) + 1]
        if not isinstance(following, keras.layers.BatchNormalization) or conv.use_bias:
            raise BiasCorrectionError(f"{conv.name} is not a bias-free convolution followed by BatchNormalization")
        norms.append(following)
    probe = keras.Model(backbone.input, [conv.input for conv in convs])
    return convs, norms, probe


def channel_shifts(model, images: np.ndarray) -> list[tuple[object, str, np.ndarray]]:
    """(layer, "moving_mean" or "bias", mean output error per channel) for every convolution and Dense layer."""
    import keras

    layers = model.layers[1:]
    backbones = {layer.name: _backbone_plan(layer) for layer in layers if isinstance(layer, keras.Model)}
    if not backbones:
        raise BiasCorrectionError("the model has no backbone (nested model) to correct")
    dense = [layer for layer in layers if isinstance(layer, keras.layers.Dense)]
    corrected = [conv for convs, _, _ in backbones.values() for conv in convs] + dense
    kernel_errors = {layer.name: quantized_kernel(layer.kernel.numpy()) - layer.kernel.numpy() for layer in corrected}
    sums = {layer.name: 0.0 for layer in corrected}
    for start in range(0, len(images), BATCH):
        activation = images[start : start + BATCH]
        for layer in layers:
            if layer.name in backbones:
                convs, _, probe = backbones[layer.name]
                for conv, conv_input in zip(convs, probe(activation, training=False), strict=True):
                    sums[conv.name] += _conv_shift(conv, conv_input, kernel_errors[conv.name])
            elif layer in dense:
                sums[layer.name] += (np.asarray(activation) @ kernel_errors[layer.name]).sum(axis=0)
            activation = layer(activation, training=False)
    shifts = []
    for convs, norms, _ in backbones.values():
        shifts += [
            (norm, "moving_mean", sums[conv.name] / len(images)) for conv, norm in zip(convs, norms, strict=True)
        ]
    return shifts + [(layer, "bias", sums[layer.name] / len(images)) for layer in dense]


@contextmanager
def corrected_for_int8(model, images: np.ndarray) -> Iterator[int]:
    """Inside, the model's biases carry the int8 weights' mean error (yields how many layers were corrected);
    on exit its float weights are back."""
    shifts = channel_shifts(model, images)
    originals = []
    for layer, name, shift in shifts:
        variable = getattr(layer, name)
        originals.append((variable, variable.numpy()))
        # A BatchNormalization subtracts its moving mean; a Dense layer adds its bias.
        variable.assign(variable.numpy() + shift if name == "moving_mean" else variable.numpy() - shift)
    largest = max(float(np.abs(shift).max()) for _, _, shift in shifts)
    log.info("bias correction: %d layers, largest channel shift %.4f", len(shifts), largest)
    try:
        yield len(shifts)
    finally:
        for variable, value in originals:
            variable.assign(value)
