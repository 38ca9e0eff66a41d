"""PanoVLM: panoramic (360-degree, equirectangular) vision-language models.

The package is import-light: submodules are imported where they are used.
"""

__version__ = "0.1.0"
