"""The seed's package path: re-exports the processor names of :mod:`panovlm.compat` (core: ``panovlm.data.image``)."""

from panovlm.compat import PanoramaImageProcessor

__all__ = ["PanoramaImageProcessor"]
