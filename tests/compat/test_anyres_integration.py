"""The seed's AnyResVICRegPairing: pairs from tile metas, as list positions or view indices."""

import pytest

from panovlm.data.anyres_integration import AnyResVICRegPairing
from panovlm.data.image import PanoramaImageProcessor
from panovlm.plans import build_view_plan


def test_adjacent_ring_of_eight_pairs_neighbours_and_the_wrap():
    plan = build_view_plan("anyres_e2p")
    pairs = AnyResVICRegPairing().build_view_pairs(plan.tile_metas())
    assert [(a, b) for a, b, _ in pairs] == [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (7, 8), (8, 1)]
    # The same pairs as positions in the metas list: the global view (view 0) has no meta.
    tiles = AnyResVICRegPairing().build_tile_pairs(plan.tile_metas())
    assert [(a + 1, b + 1, o) for a, b, o in tiles] == pairs
    assert all(0.4 < o < 0.6 for _, _, o in pairs)
    # (8, 1) joins yaw -45 and yaw 0 ... and (4, 5) joins 135 and -180 across the seam.
    assert plan.views[4].yaw_deg == 135.0 and plan.views[5].yaw_deg == -180.0


def test_touching_tiles_do_not_pair():
    plan = build_view_plan("e2p", fov_deg=45.0, overlap_ratio=0.0)
    for strategy in ("adjacent", "distance_based", "all_pairs"):
        pairing = AnyResVICRegPairing(hfov_deg=45.0, vfov_deg=45.0, pairing_strategy=strategy)
        assert pairing.build_tile_pairs(plan.tile_metas()) == []


def test_distance_based_and_all_pairs():
    plan = build_view_plan("e2p", fov_deg=150.0, overlap_ratio=0.6)  # 6 tiles, 60 deg apart
    metas = plan.tile_metas()
    near = AnyResVICRegPairing(hfov_deg=150.0, vfov_deg=150.0, pairing_strategy="distance_based",
                               distance_threshold=70.0).build_tile_pairs(metas)
    every = AnyResVICRegPairing(hfov_deg=150.0, vfov_deg=150.0, pairing_strategy="all_pairs").build_tile_pairs(metas)
    assert len(near) == 6 and len(every) == 6 + 6  # 120 deg apart still overlap 30 deg; 180 apart do not
    assert all(a < b for a, b, _ in every)


def test_tile_pairs_need_no_view_index_but_view_pairs_do():
    metas = [{k: v for k, v in m.items() if k != "view_index"} for m in build_view_plan("anyres_e2p").tile_metas()]
    pairs = AnyResVICRegPairing().build_tile_pairs(metas)
    assert pairs[0][:2] == (0, 1) and pairs[-1][:2] == (7, 0)
    with pytest.raises(KeyError, match=r"tile_metas\[0\] lacks 'view_index'"):
        AnyResVICRegPairing().build_view_pairs(metas)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"pairing_strategy must be one of \['adjacent'"):
        AnyResVICRegPairing(pairing_strategy="grid")
    with pytest.raises(KeyError, match="yaw_deg"):
        AnyResVICRegPairing().build_tile_pairs([{"pitch_deg": 0.0}])


def test_seed_000_pairing_snippets_run_as_written(pano_file, capsys):
    processor = PanoramaImageProcessor(crop_strategy="anyres_e2p", anyres_e2p_vit_size=224)
    views_tensor, metadata = processor(str(pano_file), return_metadata=True)
    tile_metas = processor.tile_metas

    from panovlm.data.anyres_integration import AnyResVICRegPairing

    pairing = AnyResVICRegPairing(
        hfov_deg=90.0,
        vfov_deg=90.0,
        overlap_ratio=0.5,
        pairing_strategy="adjacent",  # 'adjacent' | 'distance_based' | 'all_pairs'
        distance_threshold=120.0
    )

    # 타일 메타데이터로부터 페어 생성
    pairs = pairing.build_tile_pairs(tile_metas)

    for idx1, idx2, overlap_ratio in pairs:
        print(f"Pair: ({idx1}, {idx2}) - overlap: {overlap_ratio:.2f}")

    from panovlm.data.anyres_integration import AnyResVICRegPairing

    pairing = AnyResVICRegPairing(
        hfov_deg=90.0,
        overlap_ratio=0.5,
        pairing_strategy="adjacent"
    )

    pairs = pairing.build_tile_pairs(tile_metas)
    print(f"Total pairs: {len(pairs)}")

    for idx1, idx2, overlap in pairs[:5]:  # 처음 5개만
        meta1 = tile_metas[idx1]
        meta2 = tile_metas[idx2]
        print(f"  Pair ({idx1}, {idx2}): "
              f"yaw=({meta1['yaw_deg']:.1f}°, {meta2['yaw_deg']:.1f}°), "
              f"pitch=({meta1['pitch_deg']:.1f}°, {meta2['pitch_deg']:.1f}°), "
              f"overlap={overlap:.2f}")

    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Pair: (0, 1) - overlap: 0.47" and "Total pairs: 8" in out
    # Each printed pair names the tiles it pairs: yaw 0/45, 45/90, ... (45 degrees apart, seam included).
    assert out[out.index("Total pairs: 8") + 1] == "  Pair (0, 1): yaw=(0.0°, 45.0°), pitch=(0.0°, 0.0°), overlap=0.47"
    assert "  Pair (3, 4): yaw=(135.0°, -180.0°), pitch=(0.0°, 0.0°), overlap=0.47" in out
