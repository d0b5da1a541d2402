"""The backbone registry (kept apart so builders can import it without cycles; it lives, with
every built-in backbone's name, in the torch-free ``relattr_studio.modeling.catalog``)."""

from relattr_studio.modeling.catalog import BACKBONES

__all__ = ["BACKBONES"]
