"""The seed API, at the edge of the package: it imports the core, the core never imports it.

The seed API is the interface of the project's founding documents (kept, with their examples, in
``tests/data/seeds`` and exercised by ``tests/test_seed_documents.py``); "the seed" in docstrings means it.

* :class:`PanoramaVLM` (:mod:`.model`): the seed name of ``PanoLLaVaForConditionalGeneration``, with
  the seed's ``generate`` and ``tile_metas_batch``.
* :class:`ModelConfig` (:mod:`.config`): the flat config over ``PanoLLaVaConfig``.
* :class:`AnyResVICRegPairing` (:mod:`.pairing`): pairs from tile metas over :mod:`panovlm.pairs`.
* ``compute_vicreg_overlap_loss`` / ``compute_vicreg_anyres_loss`` (:mod:`.vicreg`): flat-feature losses.
* ``build_anyres_from_erp`` (:mod:`.anyres_e2p`) and ``PanoramaImageProcessor`` (``panovlm.processors``).
* :class:`SeedCollator` (:mod:`.collate`): batches with ``tile_metas_batch``.

The seed's import paths (``panovlm.models.model``, ``panovlm.config.config_manager``,
``panovlm.data.anyres_integration``, ``panovlm.losses.vicreg_overlap``, ``panovlm.processors``) are
modules that only re-export from here; ``tests/compat/test_layering.py`` keeps the core off them.
"""

from panovlm.compat.anyres_e2p import AnyResPack, build_anyres_from_erp
from panovlm.compat.collate import SeedCollator, add_tile_metas
from panovlm.compat.config import DEFAULT_LANGUAGE, DEFAULT_VISION, ModelConfig
from panovlm.compat.model import (
    GenerationOutput,
    PanoramaVLM,
    TrainingStageOutput,
    VisionStageOutput,
    select_tile_views,
)
from panovlm.compat.pairing import MIN_OVERLAP, PAIRING_STRATEGIES, AnyResVICRegPairing, Pair, pairs_for_plan
from panovlm.compat.vicreg import compute_vicreg_anyres_loss, compute_vicreg_overlap_loss
from panovlm.data.image import PanoramaImageProcessor

__all__ = [
    "DEFAULT_LANGUAGE",
    "DEFAULT_VISION",
    "MIN_OVERLAP",
    "PAIRING_STRATEGIES",
    "AnyResPack",
    "AnyResVICRegPairing",
    "GenerationOutput",
    "ModelConfig",
    "Pair",
    "PanoramaImageProcessor",
    "PanoramaVLM",
    "SeedCollator",
    "TrainingStageOutput",
    "VisionStageOutput",
    "add_tile_metas",
    "build_anyres_from_erp",
    "compute_vicreg_anyres_loss",
    "compute_vicreg_overlap_loss",
    "pairs_for_plan",
    "select_tile_views",
]
