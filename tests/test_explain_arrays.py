"""attributions.npz written block by block (explain/arrays.py): numpy reads the blocks back as one array per
name, in order; a block that does not fit the first is refused; nothing stays beside the archive."""

from __future__ import annotations

import numpy as np
import pytest

from xaicli.explain.arrays import NpzWriter


def test_blocks_read_back_as_the_stacked_arrays(tmp_path):
    rng = np.random.default_rng(0)
    blocks = [rng.random((n, 3, 5, 7), dtype=np.float32) for n in (4, 1, 3)]
    writer = NpzWriter(tmp_path / "attributions.npz")
    for start, b in zip((0, 4, 5), blocks, strict=True):
        writer.add(maps=b, images=(b * 255).astype(np.uint8), indices=np.arange(start, start + len(b)))
    assert not (tmp_path / "attributions.npz").exists()  # only once complete
    writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["attributions.npz"]
    with np.load(tmp_path / "attributions.npz") as npz:
        assert sorted(npz.files) == ["images", "indices", "maps"]
        np.testing.assert_array_equal(npz["maps"], np.concatenate(blocks))
        assert npz["maps"].dtype == np.float32 and npz["images"].dtype == np.uint8
        np.testing.assert_array_equal(npz["indices"], np.arange(8))


def test_the_same_bytes_as_numpy_would_save(tmp_path):
    a = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    writer = NpzWriter(tmp_path / "ours.npz")
    writer.add(a=a[:1], empty=np.array([]))
    writer.add(a=a[1:], empty=np.array([]))
    writer.close()
    np.savez_compressed(tmp_path / "numpy.npz", a=a, empty=np.array([]))
    with np.load(tmp_path / "ours.npz") as ours, np.load(tmp_path / "numpy.npz") as ref:
        for name in ("a", "empty"):
            assert ours[name].dtype == ref[name].dtype and ours[name].shape == ref[name].shape
            np.testing.assert_array_equal(ours[name], ref[name])


def test_a_block_of_another_shape_or_dtype_is_refused_and_discard_cleans_up(tmp_path):
    writer = NpzWriter(tmp_path / "a.npz")
    writer.add(maps=np.zeros((2, 3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"maps: a block of float32 \(3, 5\)"):
        writer.add(maps=np.zeros((1, 3, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="float64"):
        writer.add(maps=np.zeros((1, 3, 4)))
    writer.discard()
    assert list(tmp_path.iterdir()) == []
