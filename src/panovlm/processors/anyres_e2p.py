"""The seed's module path: re-exports :mod:`panovlm.compat.anyres_e2p`."""

from panovlm.compat.anyres_e2p import AnyResPack, build_anyres_from_erp

__all__ = ["AnyResPack", "build_anyres_from_erp"]
