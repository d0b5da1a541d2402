"""The ranker registry (kept apart so builders can import it without cycles)."""

from relattr_studio.core.registry import Registry

RANKERS: Registry = Registry("ranker")
