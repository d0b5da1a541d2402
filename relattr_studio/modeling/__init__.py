"""Models: backbones, rankers, (later) generators. Imports torch, never Qt."""
