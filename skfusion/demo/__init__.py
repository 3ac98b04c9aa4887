"""The ``skfusion demo`` experiment: every strategy on Cranfield, compared honestly.

:func:`run_demo` embeds the bundled Cranfield collection, evaluates every
strategy (fixed weights tuned by nested cross-validation) and returns a
:class:`DemoResult`; :func:`write_report` turns it into a report folder.
"""

from ._cranfield import DemoResult, embed_cranfield, run_demo, simplex_grid
from ._report import write_report

__all__ = ["DemoResult", "embed_cranfield", "run_demo", "simplex_grid", "write_report"]
