"""PanoShapes: determinism, geometry of the rendered shapes, CSV contents, language, corpus, CLI."""

from __future__ import annotations

import csv
import json
from collections import Counter

import cv2
import numpy as np
import pytest

from panovlm.cli import main as cli_main
from panovlm.data.synth import (
    CSV_COLUMNS,
    DIRECTIONS,
    NOTHING,
    QUERY_TEMPLATES,
    SCENE_QUERIES,
    describe,
    generate_panoshapes,
    panoshapes_corpus,
    parse_caption,
    parse_size,
    sample_scene,
    scene_caption,
)
from panovlm.data.synth_render import COLOURS, SHAPES, SIZES, ShapeObject, erp_rays, object_mask, render_panorama
from panovlm.geometry import angles_to_ray, great_circle_deg, ray_to_erp, wrap_yaw

W, H = 128, 64


def _rows(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _colour_mask(image: np.ndarray, colour: str) -> np.ndarray:
    return np.all(image == np.array(COLOURS[colour], dtype=np.uint8), axis=-1)  # (H, W)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("panoshapes")
    return generate_panoshapes(out, train=12, val=3, test=3, seed=7, size=(W, H))


def test_same_seed_gives_byte_identical_files_and_another_seed_differs(dataset, tmp_path):
    again = generate_panoshapes(tmp_path / "a", train=12, val=3, test=3, seed=7, size=f"{W}x{H}")
    other = generate_panoshapes(tmp_path / "b", train=12, val=3, test=3, seed=8, size=(W, H))
    for split in ("train", "val", "test"):
        assert dataset[split].read_bytes() == again[split].read_bytes()
        assert dataset[split].read_bytes() != other[split].read_bytes()
    names = sorted(p.name for p in dataset["images"].iterdir())
    assert len(names) == 18
    assert names == sorted(p.name for p in again["images"].iterdir())
    for name in names:
        assert (dataset["images"] / name).read_bytes() == (again["images"] / name).read_bytes()


def test_csv_columns_urls_and_answers_follow_the_objects(dataset):
    for split, count in (("train", 12), ("val", 3), ("test", 3)):
        rows = _rows(dataset[split])
        assert list(rows[0].keys()) == list(CSV_COLUMNS)
        by_url: dict[str, list[dict]] = {}
        for row in rows:
            by_url.setdefault(row["url"], []).append(row)
        assert len(by_url) == count
        for url, group in by_url.items():
            assert (dataset[split].parent / url).is_file()
            objects = {o["direction"]: o for o in json.loads(group[0]["objects"])}
            scene = [r for r in group if not r["target_direction"]]
            assert len(scene) == 1 and scene[0]["query"] in SCENE_QUERIES
            assert {(p["colour"], p["shape"], p["size"], p["direction"]) for p in parse_caption(scene[0]["annotation"])} \
                == {(o["colour"], o["shape"], o["size"], d) for d, o in objects.items()}
            asked = [r for r in group if r["target_direction"]]
            assert {r["target_direction"] for r in asked} >= set(objects)
            assert len(asked) == len(objects) + (1 if len(objects) < len(DIRECTIONS) else 0)
            for r in asked:
                assert r["query"] in QUERY_TEMPLATES[r["target_direction"]]
                o = objects.get(r["target_direction"])
                assert r["annotation"] == (f"a {o['size']} {o['colour']} {o['shape']}" if o else NOTHING)


def test_object_colour_is_found_at_its_direction_in_the_written_image(dataset):
    checked = 0
    for row in _rows(dataset["train"]):
        if row["target_direction"]:
            continue
        image = cv2.imread(str(dataset["train"].parent / row["url"]), cv2.IMREAD_COLOR)[..., ::-1]  # BGR -> RGB
        for obj in json.loads(row["objects"]):
            col, r = ray_to_erp(angles_to_ray(np.array(obj["yaw_deg"]), np.array(obj["pitch_deg"])), W, H)
            assert tuple(image[int(round(r)), int(round(col)) % W]) == COLOURS[obj["colour"]]
            checked += 1
    assert checked >= 12


def test_objects_sit_near_their_canonical_direction():
    rng = np.random.default_rng(0)
    anchors = {"front": 0.0, "right": 90.0, "behind": 180.0, "left": -90.0}
    for _ in range(300):
        for obj in sample_scene(rng):
            if obj.direction in anchors:
                assert abs(wrap_yaw(obj.yaw_deg - anchors[obj.direction])) <= 15.0
                assert abs(obj.pitch_deg) <= 10.0
            else:
                assert 55.0 <= obj.pitch_deg * (1 if obj.direction == "above" else -1) <= 70.0


def test_object_straddling_the_seam_appears_on_both_erp_edges():
    obj = ShapeObject("blue", "square", "large", "behind", -178.0, 0.0)
    image, _ = render_panorama([obj], W, H, np.random.default_rng(0))
    mask = _colour_mask(image, "blue")
    assert mask[:, 0].sum() > 3 and mask[:, -1].sum() > 3
    assert not mask[:, W // 4 : 3 * W // 4].any()  # nothing in the front half


def test_object_above_renders_in_the_top_part_only():
    obj = ShapeObject("red", "circle", "large", "above", 40.0, 62.0)
    image, _ = render_panorama([obj], W, H, np.random.default_rng(1))
    rows = np.nonzero(_colour_mask(image, "red").any(axis=1))[0]
    assert rows.size > 0 and rows.max() < H * (90 - 62 + 22) / 180  # lat > pitch - radius
    assert rows.min() < H * 0.1  # the disc reaches towards the pole: the ERP stretches it


@pytest.mark.parametrize("shape", SHAPES)
def test_shapes_fit_their_radius_and_large_is_larger(shape):
    rays = erp_rays(256, 128)
    areas = {}
    for size in SIZES:
        obj = ShapeObject("green", shape, size, "right", 90.0, 0.0, rotation_deg=10.0)
        mask = object_mask(rays, obj)  # (H, W)
        lon, lat = np.nonzero(mask)[1] / 256 * 360 - 180 + 180 / 256, 90 - (np.nonzero(mask)[0] + 0.5) / 128 * 180
        dist = np.array([great_circle_deg(90.0, 0.0, a, b) for a, b in zip(lon, lat, strict=True)])
        assert dist.max() <= obj.radius_deg + 0.01
        assert dist.max() >= 0.6 * obj.radius_deg
        areas[size] = mask.sum()
    assert areas["large"] > 2 * areas["small"]


def test_attributes_and_directions_are_balanced_so_the_query_cannot_give_the_answer():
    rng = np.random.default_rng(3)
    objects = [o for _ in range(600) for o in sample_scene(rng)]
    for attribute, values in (("direction", DIRECTIONS), ("colour", list(COLOURS)), ("shape", SHAPES)):
        counts = Counter(getattr(o, attribute) for o in objects)
        expected = len(objects) / len(values)
        assert set(counts) == set(values)
        assert all(abs(counts[v] - expected) < 0.25 * expected for v in values), counts
    behind = [o for o in objects if o.direction == "behind"]
    colours = Counter(o.colour for o in behind)
    assert max(colours.values()) < 2.0 * min(colours.values())


def test_parse_caption_round_trips_scene_captions_and_answers():
    rng = np.random.default_rng(5)
    for _ in range(50):
        objects = sample_scene(rng)
        parsed = parse_caption(scene_caption(objects))
        assert [(p["size"], p["colour"], p["shape"], p["direction"]) for p in parsed] == [
            (o.size, o.colour, o.shape, o.direction) for o in sorted(objects, key=lambda o: DIRECTIONS.index(o.direction))]
    assert parse_caption(describe(ShapeObject("red", "star", "small", "left", -90.0, 0.0))) == [
        {"size": "small", "colour": "red", "shape": "star", "direction": None}]
    assert parse_caption(NOTHING) == []


def test_corpus_covers_the_language_of_the_dataset(dataset):
    corpus = panoshapes_corpus(400, seed=1)
    assert len(corpus) == 400 and corpus == panoshapes_corpus(400, seed=1)
    assert corpus != panoshapes_corpus(400, seed=2)
    assert len(panoshapes_corpus(1, seed=0)) > 100  # never less than the full vocabulary
    words = {w for s in corpus for w in s.replace("?", " ").replace(",", " ").split()}
    for row in _rows(dataset["train"]):
        for text in (row["query"], row["annotation"]):
            assert set(text.replace("?", " ").replace(",", " ").split()) <= words, text


def test_parse_size_validates():
    assert parse_size("512x256") == (512, 256) == parse_size((512, 256))
    for bad in ("512", "512x200", (4, 2), (512, 256, 3)):
        with pytest.raises(ValueError, match="size"):
            parse_size(bad)


def test_cli_writes_the_set(tmp_path):
    out = tmp_path / "set"
    assert cli_main(["synth", "--out", str(out), "--train", "2", "--val", "1", "--test", "1", "--size", "64x32"]) == 0
    assert {p.name for p in out.iterdir()} == {"images", "train.csv", "val.csv", "test.csv"}
    assert cv2.imread(str(out / "images" / "train_00001.png")).shape == (32, 64, 3)


def test_plain_level_keeps_the_objects_on_one_grey(tmp_path):
    plain = generate_panoshapes(tmp_path / "p", train=4, val=0, test=0, seed=7, size=(W, H), backgrounds="plain")
    varied = generate_panoshapes(tmp_path / "v", train=4, val=0, test=0, seed=7, size=(W, H))
    plain_rows, varied_rows = _rows(plain["train"]), _rows(varied["train"])
    assert [r["objects"] for r in plain_rows] == [r["objects"] for r in varied_rows]
    for i in range(4):
        image = cv2.imread(str(plain["images"] / f"train_{i:05d}.png"))[..., ::-1]  # BGR -> RGB
        objects = json.loads(next(r["objects"] for r in plain_rows if r["url"].endswith(f"train_{i:05d}.png")))
        on_object = np.zeros((H, W), dtype=bool)
        for obj in objects:
            on_object |= _colour_mask(image, obj["colour"])
        assert on_object.any()
        assert np.all(image[~on_object] == 128)


def test_unknown_background_level_is_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"backgrounds must be one of \['varied', 'plain'\], got 'noisy'"):
        generate_panoshapes(tmp_path, train=1, val=0, test=0, backgrounds="noisy")
    out = tmp_path / "cli"
    args = ["synth", "--out", str(out), "--train", "1", "--val", "0", "--test", "0", "--size", "64x32", "--backgrounds", "plain"]
    assert cli_main(args) == 0
    pixels = cv2.imread(str(out / "images" / "train_00000.png"))[..., ::-1].reshape(-1, 3)  # BGR -> RGB
    assert {tuple(int(v) for v in p) for p in np.unique(pixels, axis=0)} <= {(128, 128, 128), *COLOURS.values()}
