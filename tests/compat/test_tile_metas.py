"""The seed's tile_metas_batch on PanoramaVLM: the metas name the views of the overlap loss."""

import pytest
import torch

from panovlm.models.model import PanoramaVLM
from panovlm.models.tiny import tiny_model


@pytest.fixture(scope="module")
def model():
    """The core test model's config, as the seed class; with ``use_anyres_e2p_vicreg`` on, tile metas pair as
    ``config.pairing_strategy`` says (``adjacent``)."""
    seed = PanoramaVLM(tiny_model(test=True).config).eval()
    seed.use_anyres_e2p_vicreg, seed.tile_metas_batch = True, []
    return seed


def test_seed_tile_metas_select_the_tiles(model):
    pixel_values = torch.randn(2, 9, 3, 64, 64)
    plan = model.config.view_plan()
    with torch.no_grad():
        plain = model(pixel_values=pixel_values, stage="vision")
        model.tile_metas_batch = [plan.tile_metas()] * 2
        via_metas = model(pixel_values=pixel_values, stage="vision")
        model.tile_metas_batch = [plan.tile_metas()[:3]] * 2  # three adjacent tiles only
        subset = model(pixel_values=pixel_values, stage="vision")
        model.tile_metas_batch = []
    assert torch.allclose(plain.loss, via_metas.loss) and plain.num_pairs == via_metas.num_pairs
    assert subset.num_pairs < plain.num_pairs
    bad = [dict(m, yaw_deg=m["yaw_deg"] + 10) for m in plan.tile_metas()]
    with pytest.raises(ValueError, match="does not match view"):
        model(pixel_values=pixel_values, stage="vision", tile_metas_batch=[bad, bad])
