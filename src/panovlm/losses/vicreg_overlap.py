"""The seed's module path: re-exports :mod:`panovlm.compat.vicreg` (core code imports ``panovlm.losses.overlap``)."""

from panovlm.compat.vicreg import (
    VICRegProjector,
    check_overlap,
    compute_vicreg_anyres_loss,
    compute_vicreg_overlap_loss,
    overlap_loss,
    vicreg_loss,
    vicreg_terms,
)

__all__ = [
    "VICRegProjector",
    "check_overlap",
    "compute_vicreg_anyres_loss",
    "compute_vicreg_overlap_loss",
    "overlap_loss",
    "vicreg_loss",
    "vicreg_terms",
]
