"""The streaming loader (cache file -> shuffled contiguous blocks) and the photo augmentations."""

import threading

import numpy as np
import pytest
import torch

from xaicli import config as cfgmod
from xaicli.data import streaming
from xaicli.data.augment import Augment, crop_boxes, generator, resized_crop
from xaicli.data.base import ImageData
from xaicli.data.loader import BatchStream, make_train_stream
from xaicli.data.streaming import CacheStream

CPU = torch.device("cpu")


def cache_file(tmp_path, n=1000, shape=(1, 4, 4)):
    """A cache file whose image i is filled with i % 251 and i // 251 (recoverable from its pixels)."""
    x = np.zeros((n, *shape), dtype=np.uint8)
    x.reshape(n, -1)[:, 0] = np.arange(n) % 251
    x.reshape(n, -1)[:, 1] = np.arange(n) // 251
    path = tmp_path / "images.npy"
    np.save(path, x)
    return path, torch.arange(n)


def ids(xb):
    flat = xb.reshape(len(xb), -1).long()
    return (flat[:, 0] + 251 * flat[:, 1]).tolist()


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 16 images and windows of 4 blocks, so that 1000 images make many windows."""
    monkeypatch.setattr(streaming, "BLOCK_BYTES", 16 * 16)
    monkeypatch.setattr(streaming, "WINDOW_MIN", 64 * 16)
    monkeypatch.setattr(streaming, "WINDOW_MAX", 64 * 16)


def test_each_epoch_is_a_permutation_made_of_contiguous_blocks(tmp_path, small_blocks):
    path, y = cache_file(tmp_path)
    s = CacheStream(path, y, 32, CPU, seed=5, drop_last=False)
    assert s.block_rows == 16 and s.window_blocks == 4 and len(s) == 32
    batches = list(s.epoch(0))
    seen = [i for xb, yb in batches for i in ids(xb)]
    assert sorted(seen) == list(range(1000)) and [i for _, yb in batches for i in yb.tolist()] == seen
    assert seen == s.order(0).tolist()
    assert len(batches[-1][0]) == 1000 - 31 * 32  # drop_last false: the partial batch
    # each window of 64 positions holds exactly 4 whole blocks
    for w in range(0, 960, 64):
        blocks = {i // 16 for i in seen[w:w + 64]}
        assert len(blocks) == 4 and all(sum(i // 16 == b for i in seen[w:w + 64]) == 16 for b in blocks)
    assert seen != list(range(1000))  # shuffled within windows
    assert s.order(1).tolist() != seen and s.order(0).tolist() == seen


def test_resume_mid_epoch_replays_the_same_batches(tmp_path, small_blocks):
    path, y = cache_file(tmp_path)
    s = CacheStream(path, y, 24, CPU, seed=2, augment=Augment(shift=1, hflip=True, crop_scale=0.3))
    full = [(xb.clone(), yb.clone()) for xb, yb in s.epoch(3)]
    for start in (1, 7, 11, len(s) - 1):
        tail = list(s.epoch(3, start_step=start))
        assert len(tail) == len(full) - start
        for (xa, ya), (xb, yb) in zip(full[start:], tail, strict=True):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_ddp_ranks_take_their_slices_of_the_same_global_batches(tmp_path, small_blocks):
    path, y = cache_file(tmp_path)
    aug = Augment(shift=1, hflip=True)
    whole = list(CacheStream(path, y, 16, CPU, seed=1, augment=aug).epoch(0))
    ranks = [list(CacheStream(path, y, 16, CPU, seed=1, augment=aug, rank=r, world_size=2).epoch(0))
             for r in range(2)]
    for (xb, yb), (x0, y0), (x1, y1) in zip(whole, *ranks, strict=True):
        assert torch.equal(torch.cat([x0, x1]), xb) and torch.equal(torch.cat([y0, y1]), yb)


def test_streamed_and_resident_batches_are_augmented_alike(tmp_path):
    """The same global batch gets the same augmentation from either stream (one Augment for both)."""
    path, y = cache_file(tmp_path, n=64, shape=(3, 8, 8))
    x = torch.from_numpy(np.load(path))
    aug = Augment(shift=2, hflip=True, crop_scale=0.2)
    stream = CacheStream(path, y, 64, CPU, seed=9, augment=aug)
    (xb, yb), = list(stream.epoch(4))
    expected = aug(x[yb], 64, (9, 4, 0), lambda t: t)
    assert torch.equal(xb, expected)


def test_an_abandoned_epoch_stops_its_reader_thread(tmp_path, small_blocks):
    path, y = cache_file(tmp_path)
    before = threading.active_count()
    s = CacheStream(path, y, 8, CPU)
    it = s.epoch(0)
    next(it)
    assert threading.active_count() == before + 1
    it.close()
    assert threading.active_count() == before


def test_a_damaged_cache_file_fails_in_the_consumer(tmp_path, small_blocks):
    path, y = cache_file(tmp_path)
    s = CacheStream(path, y, 8, CPU)
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size - 100)
    with pytest.raises(OSError, match="shorter than its header"):
        list(s.epoch(0))


def test_the_train_stream_streams_cached_data_that_does_not_fit(tmp_path):
    path, y = cache_file(tmp_path, n=64)
    x = torch.from_numpy(np.load(path, mmap_mode="c"))
    data = ImageData(x, y, x[:0], y[:0], (0.5,), (0.2,), [str(i) for i in range(64)], cache_files={"train": path})
    cfg = cfgmod.load(None, ["data.batch_size=8"]).data
    assert isinstance(make_train_stream(data, cfg, CPU, 0), BatchStream)
    cfg.device_resident = "false"
    assert isinstance(make_train_stream(data, cfg, CPU, 0), CacheStream)
    cfg.device_resident, cfg.memory_mb = "auto", 1
    big = torch.zeros(2**21, dtype=torch.uint8)  # 2 MiB > data.memory_mb
    data.x_train = big
    assert isinstance(make_train_stream(data, cfg, CPU, 0), CacheStream)
    data.cache_files = {}
    assert isinstance(make_train_stream(data, cfg, CPU, 0), BatchStream)  # nothing to stream from


def test_crop_boxes_follow_torchvision_ranges():
    g = generator(0)
    boxes = crop_boxes(4000, 64, 48, 0.25, g)
    top, left, h, w = boxes.unbind(1)
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 64).all() and (left + w <= 48).all()
    area = h * w / (64 * 48)
    assert area.min() >= 0.23 and area.max() <= 1.0
    ratio = w / h
    assert ratio.min() >= 0.7 and ratio.max() <= 1.4
    assert torch.equal(crop_boxes(10, 32, 32, 0.5, generator(1)), crop_boxes(10, 32, 32, 0.5, generator(1)))


def test_resized_crop_equals_torchvision_resized_crop():
    from torchvision.transforms.v2.functional import resized_crop as tv_resized_crop

    x = torch.randint(0, 256, (40, 3, 24, 32), dtype=torch.uint8)
    boxes = crop_boxes(40, 24, 32, 0.08, generator(3))
    ours = resized_crop(x, boxes)
    for image, box, out in zip(x, boxes.long().tolist(), ours, strict=True):
        ref = tv_resized_crop(image, *box, [24, 32], antialias=True)
        assert (out.int() - ref.int()).abs().max() <= 1
    whole = torch.tensor([[0, 0, 24, 32]] * 40)
    assert torch.equal(resized_crop(x, whole), x)


def test_batch_stream_with_crop_is_deterministic_and_changes_images():
    x = torch.randint(0, 256, (64, 3, 12, 12), dtype=torch.uint8)
    y = torch.arange(64)
    a = [b[0] for b in BatchStream(x, y, 16, CPU, seed=1, crop_scale=0.3).epoch(0)]
    b = [b[0] for b in BatchStream(x, y, 16, CPU, seed=1, crop_scale=0.3).epoch(0)]
    plain = [b[0] for b in BatchStream(x, y, 16, CPU, seed=1).epoch(0)]
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(a, plain, strict=True))
