"""The backbone registry (kept apart so builders can import it without cycles)."""

from relattr_studio.core.registry import Registry
from relattr_studio.modeling.backbones.base import Backbone

BACKBONES: Registry[Backbone] = Registry("backbone")
