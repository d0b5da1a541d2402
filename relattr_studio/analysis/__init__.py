"""Metrics, orderings, saliency, embeddings, experiment protocols."""
