"""The seed's ModelConfig defaults."""

from panovlm.config.config_manager import ModelConfig


def test_anyres_vicreg_flag_defaults_to_sequential_pairs_as_the_seed_says():
    assert ModelConfig().use_anyres_e2p_vicreg is False
