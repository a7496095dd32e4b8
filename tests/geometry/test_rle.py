"""COCO RLE through pycocotools, with JSON-safe ``str`` counts, checked against dense numpy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from regionreasoner.geometry.rle import (
    decode_rle,
    encode_rle,
    polygons_to_rle,
    rle_area,
    rle_intersection_union,
    rle_union,
)


def random_masks(seed: int, count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    shapes = [(1, 1), (1, 9), (9, 1), (7, 5), (16, 23)]
    out = [np.zeros((4, 6), bool), np.ones((4, 6), bool)]
    for i in range(count):
        h, w = shapes[i % len(shapes)]
        out.append(rng.random((h, w)) < rng.uniform(0.1, 0.9))
    return out


@pytest.mark.parametrize("mask", random_masks(seed=0, count=10))
def test_encode_decode_round_trip(mask):
    rle = encode_rle(mask)
    assert isinstance(rle["counts"], str)
    assert rle["size"] == [mask.shape[0], mask.shape[1]]
    assert json.loads(json.dumps(rle)) == rle  # JSON-safe as is
    decoded = decode_rle(rle)
    assert decoded.dtype == bool
    np.testing.assert_array_equal(decoded, mask)
    assert rle_area(rle) == int(mask.sum())


def test_encode_matches_pycocotools_string():
    mask = random_masks(seed=3, count=5)[-1]
    ref = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    assert encode_rle(mask)["counts"] == ref["counts"].decode("ascii")


def test_decode_accepts_bytes_and_uncompressed_counts():
    mask = random_masks(seed=4, count=3)[-1]
    ref = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))  # counts are bytes
    np.testing.assert_array_equal(decode_rle(ref), mask)
    # Uncompressed runs are column-major, starting with zeros: 1 zero, 2 ones, 3 zeros.
    # Pixel order (row, col): (0,0) (1,0) (0,1) (1,1) (0,2) (1,2)
    dense = decode_rle({"size": [2, 3], "counts": [1, 2, 3]})
    np.testing.assert_array_equal(dense, [[0, 1, 0], [1, 0, 0]])
    assert rle_area({"size": [2, 3], "counts": [1, 2, 3]}) == 2


def test_encode_rejects_non_2d():
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        encode_rle(np.zeros((2, 2, 2)))


def test_intersection_union_vs_dense():
    masks = random_masks(seed=5, count=10)
    by_shape: dict[tuple[int, int], list[np.ndarray]] = {}
    for m in masks:
        by_shape.setdefault(m.shape, []).append(m)
    checked = 0
    for group in by_shape.values():
        for a in group:
            for b in group:
                inter, union = rle_intersection_union(encode_rle(a), encode_rle(b))
                assert inter == int(np.logical_and(a, b).sum())
                assert union == int(np.logical_or(a, b).sum())
                checked += 1
    assert checked > len(masks)  # several same-shape pairs really compared


def test_intersection_union_size_mismatch():
    with pytest.raises(ValueError, match="sizes differ"):
        rle_intersection_union(encode_rle(np.zeros((2, 3))), encode_rle(np.zeros((3, 2))))


def test_rle_union_vs_dense():
    rng = np.random.default_rng(6)
    masks = [rng.random((6, 8)) < 0.3 for _ in range(3)]
    merged = rle_union([encode_rle(m) for m in masks], (6, 8))
    assert isinstance(merged["counts"], str)
    np.testing.assert_array_equal(decode_rle(merged), np.logical_or.reduce(masks))
    single = rle_union([encode_rle(masks[0])], (6, 8))
    np.testing.assert_array_equal(decode_rle(single), masks[0])


def test_rle_union_of_nothing_is_empty_mask_of_the_size():
    empty = rle_union([], (5, 7))
    assert empty["size"] == [5, 7]
    assert not decode_rle(empty).any()


def test_polygons_to_rle_vs_pycocotools():
    polygons = [[1, 1, 8, 1, 8, 6, 1, 6], [12, 2, 16, 2, 14, 9]]
    rle = polygons_to_rle(polygons, (20, 12))
    assert rle["size"] == [12, 20]
    assert isinstance(rle["counts"], str)
    ref = coco_mask.merge(coco_mask.frPyObjects(polygons, 12, 20))
    np.testing.assert_array_equal(decode_rle(rle), coco_mask.decode(ref).astype(bool))
    # two disjoint polygons: the merged area is the sum of the parts
    parts = [rle_area(polygons_to_rle([p], (20, 12))) for p in polygons]
    assert rle_area(rle) == sum(parts) > 0
