import pytest

from panovlm.plans import STRATEGIES, build_view_plan, pitch_rows, ring_yaws


def test_default_anyres_layout_is_global_plus_ring_of_eight():
    plan = build_view_plan()
    assert len(plan) == 9
    assert plan.views[0].kind == "global" and plan.global_index == 0
    assert [v.yaw_deg for v in plan.views[1:]] == [0.0, 45.0, 90.0, 135.0, -180.0, -135.0, -90.0, -45.0]
    assert all(v.pitch_deg == 0.0 and v.hfov_deg == 90.0 and v.kind == "tile" for v in plan.views[1:])
    assert plan.tile_indices == tuple(range(1, 9))


@pytest.mark.parametrize(
    "strategy, kwargs, count",
    [
        ("e2p", {}, 8),
        ("e2p", {"overlap_ratio": 0.0}, 4),
        ("e2p", {"fov_deg": 45.0, "overlap_ratio": 0.25}, 11),
        ("anyres_e2p", {"pitch_range": (-90.0, 90.0)}, 1 + 3 * 8),
        ("anyres_e2p", {"pitch_range": (10.0, 10.0)}, 9),
        ("cubemap", {}, 4),
        ("cubemap", {"cubemap_poles": True}, 6),
        ("sliding_window", {}, 8),
        ("resize", {}, 1),
    ],
)
def test_view_counts(strategy, kwargs, count):
    plan = build_view_plan(strategy, **kwargs)
    assert len(plan) == count
    assert plan.strategy == strategy


def test_wide_cubemap_faces_overlap_their_neighbours():
    from panovlm.geometry import view_overlap

    classic = build_view_plan("cubemap", cubemap_poles=True)
    wide = build_view_plan("cubemap", fov_deg=120.0, cubemap_poles=True)
    assert [(v.yaw_deg, v.pitch_deg) for v in wide.views] == [(v.yaw_deg, v.pitch_deg) for v in classic.views]
    assert all(v.hfov_deg == 120.0 for v in wide.views) and wide.overlap_ratio == pytest.approx(0.25)
    assert view_overlap(classic, 0, 1) == pytest.approx(0.0, abs=0.02)
    assert view_overlap(wide, 0, 1) > 0.1 and view_overlap(wide, 0, 4) > 0.1  # front with right, with top
    with pytest.raises(ValueError, match="cubemap faces need fov_deg >= 90"):
        build_view_plan("cubemap", fov_deg=80.0)


def test_every_strategy_round_trips_through_dict():
    from panovlm.geometry import ViewPlan

    for strategy in STRATEGIES:
        plan = build_view_plan(strategy, image_size=(64, 96))
        assert ViewPlan.from_dict(plan.to_dict()) == plan
        assert all((v.height, v.width) == (64, 96) for v in plan.views)


def test_anyres_rows_and_open_ring():
    assert pitch_rows(90.0, 0.5, (-90.0, 90.0)) == [-45.0, 0.0, 45.0]
    assert pitch_rows(90.0, 0.5, (-45.0, 45.0)) == [0.0]
    # Open ring: every tile stays inside the ERP ([-180, 180]); the origin doc lists six (no 135).
    assert ring_yaws(90.0, 0.5, closed_loop=False) == [-135.0, -90.0, -45.0, 0.0, 45.0, 90.0, 135.0]
    assert ring_yaws(60.0, 0.0) == [0.0, 60.0, 120.0, -180.0, -120.0, -60.0]


def test_letterbox_global_keeps_two_to_one():
    plan = build_view_plan("anyres_e2p", global_mode="letterbox")
    assert plan.views[0].letterbox == pytest.approx(0.5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"strategy": "anyres"}, "crop_strategy must be one of"),
        ({"fov_deg": 0.0}, "fov_deg"),
        ({"overlap_ratio": 1.0}, "overlap_ratio"),
        ({"global_mode": "pad"}, "global_mode"),
        ({"pitch_range": (30.0, -30.0)}, "pitch_range"),
    ],
)
def test_bad_arguments_name_the_field(kwargs, message):
    args = {"strategy": "anyres_e2p", **kwargs}
    with pytest.raises(ValueError, match=message):
        build_view_plan(**args)


def test_spec_is_the_one_validated_description_of_a_plan():
    from panovlm.plans import DEFAULT_SPEC, ViewPlanSpec

    spec = ViewPlanSpec("anyres_e2p", 32, 60, 0.25, pitch_range=[-60, 60], global_mode="letterbox")
    assert spec.image_size == (32, 32) and spec.fov_deg == 60.0 and spec.pitch_range == (-60.0, 60.0)
    assert spec.build() == build_view_plan("anyres_e2p", (32, 32), 60.0, 0.25, True, (-60.0, 60.0), "letterbox")
    assert ViewPlanSpec.from_dict(spec.to_dict()) == spec and ViewPlanSpec.from_flat(spec.to_flat()) == spec
    assert spec.to_flat()["crop_strategy"] == "anyres_e2p" and spec.to_flat()["anyres_e2p_pitch_range"] == [-60.0, 60.0]
    assert hash(spec) == hash(ViewPlanSpec.from_dict(spec.to_dict()))
    assert DEFAULT_SPEC.build() == build_view_plan() and len(DEFAULT_SPEC.build()) == 9
    with pytest.raises(AttributeError):
        spec.fov_deg = 90.0  # frozen


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"strategy": "nope"}, r"crop_strategy must be one of \['e2p', .*\], got 'nope'"),
        ({"image_size": (224,)}, r"image_size must be an int >= 2 or two ints \(height, width\) >= 2, got \(224,\)"),
        ({"fov_deg": 180}, r"fov_deg must be in \(0, 180\), got 180.0"),
        ({"fov_deg": "wide"}, r"fov_deg must be a number in \(0, 180\), got 'wide'"),
        ({"overlap_ratio": 1.0}, r"overlap_ratio must be in \[0, 1\), got 1.0"),
        ({"pitch_range": (30, -30)}, r"anyres_e2p_pitch_range must be \(min, max\) with -90 <= min <= max <= 90"),
        ({"global_mode": "pad"}, r"global_mode must be one of \['squash', 'letterbox'\], got 'pad'"),
        ({"strategy": "cubemap", "fov_deg": 80.0}, "cubemap faces need fov_deg >= 90 to cover the sphere, got 80.0"),
    ],
)
def test_spec_errors_name_field_value_and_range(kwargs, message):
    from panovlm.plans import ViewPlanSpec

    with pytest.raises(ValueError, match=message):
        ViewPlanSpec(**kwargs)


def test_overlap_ratio_range_of_each_owner():
    """The spec (and the image processor) take [0, 1); the model config alone refuses 0 (its overlap loss)."""
    from panovlm.data.image import PanoramaImageProcessor
    from panovlm.models.configuration_panollava import PanoLLaVaConfig
    from panovlm.plans import ViewPlanSpec

    assert len(ViewPlanSpec("e2p", fov_deg=90.0, overlap_ratio=0.0).build()) == 4
    assert PanoramaImageProcessor(overlap_ratio=0.0).num_views == 4
    with pytest.raises(ValueError, match=r"overlap_ratio must be in \(0, 1\), got 0.0"):
        PanoLLaVaConfig(overlap_ratio=0.0)


def test_plan_mismatch_compares_view_directions():
    from panovlm.plans import plan_mismatch

    plan = build_view_plan("anyres_e2p", (32, 32))
    assert plan_mismatch(build_view_plan("anyres_e2p", (64, 64)), plan) is None  # sizes are the tower's business
    assert plan_mismatch(build_view_plan("e2p", (32, 32)), plan) == "8 views (e2p) against 9 (anyres_e2p)"
    assert "view 1" in plan_mismatch(build_view_plan("anyres_e2p", (32, 32), fov_deg=80.0, overlap_ratio=0.4), plan)
