"""Noise of the incoming lists."""

from __future__ import annotations

import numpy as np

from zhikong.lake.validate import normalise_id
from zhikong.sim.lists import homophone, malformed_id, typo


def test_homophones_sound_the_same_but_differ() -> None:
    from pypinyin import lazy_pinyin

    rng = np.random.default_rng(0)
    for name in ["张伟", "王芳", "李静", "陈杰", "刘洋"]:
        v = homophone(name, rng)
        assert v != name and len(v) == len(name)
        assert lazy_pinyin(v) == lazy_pinyin(name)
    assert homophone("欧", rng) == "欧"          # no homophone known: unchanged


def test_typos_and_malformed_ids() -> None:
    rng = np.random.default_rng(1)
    assert all(typo("张伟", rng) != "张伟" for _ in range(20))
    good = "11010519491231002X"
    bad = {malformed_id(good, rng) for _ in range(40)}
    assert good not in bad
    # every malformed form is either rejected or (the old 15-digit form) maps back to the person
    for b in bad:
        norm, why = normalise_id(b)
        assert norm in (None, good), (b, norm, why)
