"""PanoVLM: panoramic (360-degree, equirectangular) vision-language models.

``import panovlm`` registers the PanoLLaVA classes with the transformers Auto classes (``AutoConfig``,
``AutoModel``, ``AutoModelForImageTextToText``, ``AutoProcessor``, ``AutoImageProcessor``), so a saved
folder loads with ``from_pretrained`` and no ``trust_remote_code``. That costs transformers' import
time once; every other subpackage is imported where it is used.
"""

__version__ = "0.1.0"

# After __version__: the models package imports panovlm.plans / panovlm.geometry while this one initialises.
from panovlm import models as _models  # noqa: E402,F401  (imported for its registration side effect)
