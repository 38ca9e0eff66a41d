"""Processors: the panorama image processor lives in :mod:`panovlm.data.image`; re-exported here."""

from panovlm.data.image import PanoramaImageProcessor

__all__ = ["PanoramaImageProcessor"]
