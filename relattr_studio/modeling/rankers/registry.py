"""The ranker registry (kept apart so builders can import it without cycles; it lives, with
every built-in ranker's name, in the torch-free ``relattr_studio.modeling.catalog``)."""

from relattr_studio.modeling.catalog import RANKERS

__all__ = ["RANKERS"]
