import numpy as np
import pytest

from edge.vision.crop import CropRule, EmptyCropError, crop_face, square_region


def gradient_frame(height: int = 120, width: int = 160) -> np.ndarray:
    frame = np.zeros((height, width, 3), np.uint8)
    frame[..., 0] = np.arange(width, dtype=np.uint8)[None, :]
    frame[..., 1] = np.arange(height, dtype=np.uint8)[:, None]
    frame[..., 2] = 200
    return frame


def test_square_region_is_centred_and_enlarged_by_the_margin():
    left, top, right, bottom = square_region((40, 20, 80, 100), margin=0.25)
    assert right - left == bottom - top == 100
    assert (left + right) / 2 == 60 and (top + bottom) / 2 == 60


def test_crop_inside_the_frame_keeps_the_pixels():
    frame = gradient_frame()
    crop = crop_face(frame, (50, 30, 90, 70), CropRule(size=40, margin=0.0))
    assert crop.shape == (40, 40, 3) and crop.dtype == np.uint8
    np.testing.assert_array_equal(crop, frame[30:70, 50:90])


@pytest.mark.parametrize("box", [(-30, -30, 20, 20), (140, 100, 190, 150), (-5, 40, 30, 80), (0, 0, 160, 120)])
def test_faces_at_the_border_give_full_square_crops_padded_black(box):
    crop = crop_face(gradient_frame(), box, CropRule(size=64, margin=0.2))
    assert crop.shape == (64, 64, 3)
    assert crop.any(), "the part inside the frame must be kept"


def test_border_padding_is_black_and_on_the_outside():
    crop = crop_face(gradient_frame(), (-20, 40, 20, 80), CropRule(size=40, margin=0.0))
    assert not crop[:, :19].any()
    assert crop[:, 22:, 2].min() == 200


@pytest.mark.parametrize("box", [(200, 200, 260, 260), (-80, -80, -10, -10), (50, 50, 50, 50)])
def test_boxes_outside_the_frame_raise_instead_of_returning_empty(box):
    with pytest.raises(EmptyCropError, match="outside"):
        crop_face(gradient_frame(), box, CropRule(size=32))
