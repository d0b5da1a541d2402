"""Datasets, importers, procedural datasets, pairs, the label store and features."""
