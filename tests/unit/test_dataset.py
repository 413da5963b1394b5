"""The logo set's augmentations: deterministic, each the same whichever others are asked for."""

import numpy as np
import pytest

from tracewise.dataset import AUGMENTATIONS, MORE_AUGMENTATIONS, augmentations


def test_each_variant_is_the_same_whichever_others_are_asked_for(dev_logos):
    logo = dev_logos[7]
    every = dict(augmentations(logo, kinds=AUGMENTATIONS + MORE_AUGMENTATIONS))
    assert list(every) == list(AUGMENTATIONS + MORE_AUGMENTATIONS)
    for kind in ("noise", "crop", "jpeg"):
        ((name, alone),) = augmentations(logo, kinds=(kind,))
        assert name == kind and np.array_equal(alone.rgba, every[kind].rgba)
    ((_, reseeded),) = augmentations(logo, seed=1, kinds=("noise",))
    assert not np.array_equal(every["noise"].rgba, reseeded.rgba)


def test_rescales_and_crops_have_the_sizes_they_promise(dev_logos):
    for logo in dev_logos[::20]:
        base = logo.picture()
        got = dict(augmentations(logo, kinds=("scale64", "scale1024", "crop")))
        assert got["scale64"].width == 64 and got["scale1024"].width == 1024
        crop = got["crop"]
        assert 0.5 * base.width - 1 <= crop.width <= 0.85 * base.width
        assert 0.5 * base.height - 1 <= crop.height <= 0.85 * base.height
        assert (crop.rgba[:, :, 3] > 127).mean() > 0  # some of the logo, not only margin


def test_unknown_augmentation_is_refused(dev_logos):
    with pytest.raises(ValueError, match="unknown augmentations"):
        list(augmentations(dev_logos[0], kinds=("orig", "sepia")))
