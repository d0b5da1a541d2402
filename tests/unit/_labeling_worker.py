"""A labeling process for the crash test: records judgements as fast as it can until killed.

Usage: python _labeling_worker.py DB MODE SEED   (MODE: dataset | mixed)

Prints READY once the store is open, then after each record() returns "SAVED <id>" and after
each undo() "UNDID <judgement id>", flushing every line, so the parent knows exactly what was
reported saved when it sends SIGKILL.
"""

from __future__ import annotations

import random
import sys

from relattr_studio.data.label_store import (
    DatasetPair, DatasetRef, GeneratedImage, GeneratedPair, Judgement, LabelStore,
)

ATTRIBUTES = ("smiling", "young", "bald")
DATASET = DatasetRef("toy-faces", "/data/toy-faces.h5", "ab" * 32)


def main(db: str, mode: str, seed: int) -> None:
    rng = random.Random(seed)
    np = None
    if mode == "mixed":
        import numpy as np  # before READY, so kills land among records, not imports
        import PIL.PngImagePlugin  # noqa: F401
    store = LabelStore(db, annotator=f"worker-{seed}")
    print("READY", flush=True)
    i = 0
    while True:
        i += 1
        attribute = rng.choice(ATTRIBUTES)
        judgement = rng.choice(list(Judgement))
        if np is not None and i % 3 == 0:
            def image():
                px = np.random.default_rng(rng.randrange(1 << 30)).integers(0, 256, (16, 16, 3), dtype=np.uint8)
                return GeneratedImage("cvae-test", [rng.random() for _ in range(4)], [rng.gauss(0, 1) for _ in range(8)],
                                      pixels=px)
            pair = GeneratedPair(image(), image())
        else:
            pair = DatasetPair(DATASET, rng.randrange(1000), rng.randrange(1000), pair_row=rng.randrange(5000))
        record = store.record(pair, attribute, judgement, left_is_a=rng.random() < 0.5,
                              confidence=rng.choice([None, 1 / 3, 2 / 3, 1.0]))
        print(f"SAVED {record.id}", flush=True)
        if i % 7 == 0:
            undone = store.undo()
            print(f"UNDID {undone}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
