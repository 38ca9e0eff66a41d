"""The seed's module path: re-exports :mod:`panovlm.compat.pairing` (core pairing: ``panovlm.pairs``)."""

from panovlm.compat.pairing import MIN_OVERLAP, PAIRING_STRATEGIES, AnyResVICRegPairing, Pair, pairs_for_plan

__all__ = ["AnyResVICRegPairing", "MIN_OVERLAP", "PAIRING_STRATEGIES", "Pair", "pairs_for_plan"]
