"""Overlap-consistency losses: VICReg terms, the VICReg projector, token matching, diagnostics.

Submodules: ``terms`` (the three VICReg terms), ``matching`` (which tokens are compared: ``ray`` or
``strip``), ``vicreg_overlap`` (the loss entry points, the seed's module), ``projector``,
``diagnostics``.
"""

from panovlm.losses.diagnostics import effective_rank, overlap_diagnostics
from panovlm.losses.matching import check_overlap
from panovlm.losses.projector import VICRegProjector
from panovlm.losses.terms import vicreg_loss, vicreg_terms
from panovlm.losses.vicreg_overlap import compute_vicreg_anyres_loss, compute_vicreg_overlap_loss, overlap_loss

__all__ = [
    "VICRegProjector",
    "check_overlap",
    "compute_vicreg_anyres_loss",
    "compute_vicreg_overlap_loss",
    "effective_rank",
    "overlap_diagnostics",
    "overlap_loss",
    "vicreg_loss",
    "vicreg_terms",
]
