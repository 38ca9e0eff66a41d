"""Overlap-consistency losses: VICReg terms, the VICReg projector, token matching, diagnostics.

Submodules: ``terms`` (the three VICReg terms), ``matching`` (which tokens are compared: ``ray`` or
``strip``), ``overlap`` (the loss entry point), ``projector``, ``diagnostics``. The seed's
``vicreg_overlap`` module and its ``compute_vicreg_*`` entry points are in :mod:`panovlm.compat`.
"""

from panovlm.losses.diagnostics import effective_rank, overlap_diagnostics
from panovlm.losses.matching import check_overlap
from panovlm.losses.overlap import overlap_loss
from panovlm.losses.projector import VICRegProjector
from panovlm.losses.terms import vicreg_loss, vicreg_terms

__all__ = [
    "VICRegProjector",
    "check_overlap",
    "effective_rank",
    "overlap_diagnostics",
    "overlap_loss",
    "vicreg_loss",
    "vicreg_terms",
]
