"""The synthetic font digits (`syn`): fonts that really draw digits, determinism, balance."""

from pathlib import Path

import numpy as np

from uda_nb.data import syn


def test_fonts_really_draw_digits():
    fonts = syn.digit_fonts()
    names = {Path(f).stem for f in fonts}
    assert len(fonts) == 22 and "cmsy10" not in names and "DejaVuSans" in names  # symbol font rejected
    for font in fonts:
        one, eight = syn._render_mask(font, 1), syn._render_mask(font, 8)
        assert one.sum() > 20 and eight.sum() > 20  # nothing blank
        assert np.abs(one - eight).sum() > 15  # a "1" is not an "8"
    assert syn.recognised_digits(str(syn._font_dir() / "cmsy10.ttf")) < 5
    assert syn.recognised_digits(str(syn._font_dir() / "DejaVuSerif.ttf")) == 10


def test_syn_is_deterministic_per_seed_and_balanced():
    a, b, c = syn.build_syn("test", 0), syn.build_syn("test", 0), syn.build_syn("test", 1)
    assert np.array_equal(a["images"], b["images"]) and np.array_equal(a["labels"], b["labels"])
    assert not np.array_equal(a["images"], c["images"])
    assert a["images"].shape == (1000, 3, 32, 32) and np.bincount(a["labels"]).tolist() == [100] * 10
    assert len(np.unique(a["font_ids"])) == 22  # every font is used
