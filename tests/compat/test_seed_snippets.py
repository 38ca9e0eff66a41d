"""The code examples of seeds 000 and 002, with the tiny preset in place of the hub ids."""

import pytest
import torch

from panovlm.config.config_manager import ModelConfig
from panovlm.models.model import PanoramaVLM, VisionStageOutput
from panovlm.models.tiny import tiny_specs

VISION, TEXT = tiny_specs(test=True)


def _seed_000_config(**extra):
    return ModelConfig(
        vision_name=VISION,
        language_model_name=TEXT,
        # VICReg
        vicreg_loss_weight=1.0,
        overlap_ratio=0.5,
        vicreg_mode="pairwise",
        # AnyRes ERP VICReg
        use_anyres_e2p_vicreg=True,
        anyres_vicreg_pairing_strategy="adjacent",
        latent_dimension=32,
        **extra,
    )


def test_seed_000_model_config_and_training_loop():
    from panovlm.data.image import PanoramaImageProcessor

    config = _seed_000_config(vicreg_pair_chunk=4)
    model = PanoramaVLM(config=config)
    assert model.use_anyres_e2p_vicreg and model.anyres_vicreg_pairing_strategy == "adjacent"
    assert model.config.vicreg_pair_chunk == 4
    processor = PanoramaImageProcessor(image_size=(64, 64), crop_strategy="anyres_e2p", fov_deg=90.0,
                                       overlap_ratio=0.5, anyres_e2p_closed_loop=True,
                                       anyres_e2p_pitch_range=(-45.0, 45.0))
    views = processor(torch.randint(0, 255, (64, 128, 3), dtype=torch.uint8).numpy())
    pixel_values = torch.stack([views, views.flip(-1)])  # [B, V, 3, H, W]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.tile_metas_batch = [processor.tile_metas, processor.tile_metas]
    assert len(model.tile_metas_batch) > 0
    outputs = model(pixel_values=pixel_values, stage="vision")
    loss = outputs["loss"]
    loss.backward()
    optimizer.step()
    model.tile_metas_batch = []
    assert torch.isfinite(loss) and outputs["vicreg_loss"] is loss


def test_seed_002_overlap_ratio_error():
    with pytest.raises(ValueError) as err:
        config = ModelConfig(vision_name=VISION, language_model_name=TEXT, latent_dimension=768, overlap_ratio=1.5)
        PanoramaVLM(config)
    assert str(err.value) == "overlap_ratio must be in (0, 1), got 1.5. Typical range: [0.3, 0.7]"


def test_seed_002_train_vision_stage():
    def train_vision_stage(model: PanoramaVLM, data: torch.Tensor) -> VisionStageOutput:
        output = model(data, stage="vision")
        loss = output["vicreg_loss"]
        assert loss is output.loss
        return output

    model = PanoramaVLM(_seed_000_config())
    output = train_vision_stage(model, torch.randn(2, 9, 3, 64, 64))
    assert set(output.keys()) >= {"loss", "vicreg_loss", "vicreg_raw", "vicreg_weight", "vicreg_dim"}
    assert output["vicreg_weight"] == 1.0 and output["vicreg_dim"] == 32


def test_seed_002_config_errors_and_warnings():
    with pytest.raises(ValueError, match="vicreg_projector_dim must be a positive integer"):
        PanoramaVLM(_seed_000_config(vicreg_projector_dim=0))
    with pytest.warns(UserWarning, match="no effect"):
        ModelConfig(vision_name=VISION, language_model_name=TEXT, vicreg_loss_weight=0.0)
    with pytest.raises(TypeError, match="config must be a ModelConfig"):
        PanoramaVLM(config=42)
    with pytest.raises(ValueError, match="needs a config"):
        PanoramaVLM()


def test_panorama_vlm_is_the_hf_network(tmp_path):
    from panovlm.models import PanoLLaVaForConditionalGeneration

    model = PanoramaVLM(_seed_000_config())
    assert isinstance(model, PanoLLaVaForConditionalGeneration)
    model.save_pretrained(tmp_path)
    hf = PanoLLaVaForConditionalGeneration.from_pretrained(tmp_path)
    assert {k for k in hf.state_dict()} == {k for k in model.state_dict()}
