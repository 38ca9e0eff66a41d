"""Make an off-the-shelf Hugging Face VLM panoramic (``model.kind: adapt``; docs/adapt.md).

Files, one concern each: ``families`` (what differs per base family), ``tiny`` (offline random-init
presets), ``config`` (``AdaptSettings``), ``views`` (plan, token budget, token rays), ``messages``
(views -> multi-image chat input), ``overlap`` (hook + ray-matched VICReg), ``lora`` (peft, merge),
``loading`` (hub / local / preset), ``model`` (``PanoAdapter``), ``data`` and ``train`` (Lightning).
"""

from panovlm.adapt.config import AdaptSettings, adapt_settings
from panovlm.adapt.families import FAMILIES, get_family
from panovlm.adapt.model import PanoAdapter, is_adapted

__all__ = ["FAMILIES", "AdaptSettings", "PanoAdapter", "adapt_settings", "get_family", "is_adapted"]
