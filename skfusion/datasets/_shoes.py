"""Loader of the bundled running-shoe catalog."""

from __future__ import annotations

import atexit
import contextlib
import csv
import io
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from sklearn.utils import Bunch

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

__all__ = ["load_shoes"]

_DATA_PACKAGE = "skfusion.data.shoes"
_COLUMNS = ("id", "title", "description", "image")

#: The five queries of the experiment, verbatim and in order.
_QUERIES = (
    "eco-friendly running shoes made of eucalyptus fiber",
    "lightweight shoes for daily road running",
    "high-performance sneakers with energy return",
    "budget-friendly shoes with comfort and support",
    "shoes for stability and structured foot support",
)

# Keeps files extracted from a zipped installation alive until exit.
_EXTRACTED = contextlib.ExitStack()
atexit.register(_EXTRACTED.close)


def _as_path(resource: Traversable) -> Path:
    """Absolute file-system path of a package resource.

    Installed wheels and source checkouts give real paths directly; only a
    zip-imported package needs its file extracted, which is done once and
    kept until the interpreter exits.
    """
    if isinstance(resource, Path):
        return resource.resolve()
    return _EXTRACTED.enter_context(resources.as_file(resource)).resolve()


def load_shoes(*, as_frame: bool = False) -> Bunch:
    """Load the running-shoe catalog: 8 products and 5 text queries.

    Every product has three components, a title, a short description and a
    224×224 RGB side-view illustration, so the catalog can be fed to the
    text and image encoders and ranked by the fusion strategies. Each of
    the five queries has one clearly best product by its description.
    See ``DESCR`` for the origin and licence (BSD-3-Clause) of the files.

    Parameters
    ----------
    as_frame : bool, default=False
        If True, also return the catalog as a :class:`pandas.DataFrame` in
        ``frame``. Requires pandas (``pip install "skfusion[frame]"``).

    Returns
    -------
    data : sklearn.utils.Bunch
        Dictionary-like object with the fields:

        ids : list of str
            Product identifiers (unique slugs), in catalog order.
        title : list of str
            Product titles.
        description : list of str
            Product descriptions (one to three sentences each).
        image : list of str
            Absolute paths to the product images (PNG files).
        queries : list of str
            The five natural-language queries.
        frame : pandas.DataFrame or None
            Columns ``id``, ``title``, ``description`` and ``image`` (the
            absolute paths) when ``as_frame=True``, else None.
        DESCR : str
            Description of the dataset (its README).

    Raises
    ------
    ImportError
        If ``as_frame=True`` and pandas is not installed.

    Examples
    --------
    >>> from skfusion.datasets import load_shoes
    >>> shoes = load_shoes()
    >>> len(shoes.ids), len(shoes.queries)
    (8, 5)
    >>> shoes.title[0]
    'Allbirds Tree Dashers'
    >>> shoes.queries[0]
    'eco-friendly running shoes made of eucalyptus fiber'
    >>> shoes.image[0].endswith("allbirds-tree-dashers.png")
    True
    >>> load_shoes(as_frame=True).frame.shape  # doctest: +SKIP
    (8, 4)
    """
    root = resources.files(_DATA_PACKAGE)
    text = (root / "products.csv").read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if tuple(reader.fieldnames or ()) != _COLUMNS:
        raise ValueError(f"products.csv has columns {reader.fieldnames}, expected {list(_COLUMNS)}")
    rows = list(reader)

    ids = [row["id"] for row in rows]
    title = [row["title"] for row in rows]
    description = [row["description"] for row in rows]
    image = [str(_as_path(root / "images" / row["image"])) for row in rows]

    frame = None
    if as_frame:
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError(
                "load_shoes(as_frame=True) requires pandas; "
                'install it with pip install "skfusion[frame]"'
            ) from exc
        frame = pd.DataFrame(
            {"id": ids, "title": title, "description": description, "image": image},
            columns=list(_COLUMNS),
        )

    return Bunch(
        ids=ids,
        title=title,
        description=description,
        image=image,
        queries=list(_QUERIES),
        frame=frame,
        DESCR=(root / "README.md").read_text(encoding="utf-8"),
    )
