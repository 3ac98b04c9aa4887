"""The ``skfusion demo`` experiment: every strategy on Cranfield, compared honestly.

:func:`run_demo` loads (or embeds) the bundled Cranfield collection,
evaluates every strategy (fixed weights tuned by nested cross-validation) and
returns its result; the ``skfusion demo`` command writes it as a report
folder.
"""

from .._warnings import deprecated_attributes
from ._cranfield import run_demo

__all__ = ["run_demo"]

#: Deprecated name -> (private module, replacement named in the FutureWarning).
_DEPRECATED: dict[str, tuple[str, str]] = {
    "simplex_grid": ("skfusion.fusion._grid", "skfusion.fusion.simplex_grid"),
    "DemoResult": ("._cranfield", "the object run_demo() returns (no need to import its type)"),
    "embed_cranfield": (
        "._cranfield",
        "skfusion.datasets.load_cranfield_minilm (the same embeddings, bundled)",
    ),
    "write_report": ("._report", "the skfusion demo command (skfusion demo --out DIR)"),
}


__getattr__ = deprecated_attributes(__name__, _DEPRECATED)
