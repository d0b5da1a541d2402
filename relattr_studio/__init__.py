"""RelAttr Studio: a desktop workbench for fine-grained relative attributes."""

__version__ = "0.1.0"
