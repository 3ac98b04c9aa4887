"""Sphinx configuration of the skfusion documentation site.

Build it from the repository root, offline::

    python -m sphinx -W -b html docs docs/_build/html

Markdown pages are read by myst-parser, the API reference is generated from
the numpydoc docstrings (autodoc + autosummary), and the example gallery is
built by sphinx-gallery from ``examples/`` (every example is run).

The site works without network access too: MathJax is copied into
``_static/mathjax`` from the ``sphinx-mathjax-offline`` package (a wheel on
PyPI that bundles MathJax 3), so formulas render from a local copy or a
``file://`` URL. References to scikit-learn and NumPy objects link to their
online API pages by URL pattern (no intersphinx inventory is downloaded).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# Examples import skfusion; prefer this checkout over any other installed copy.
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")

import skfusion  # noqa: E402

project = "skfusion"
author = "skfusion developers"
copyright = "2026, skfusion developers"
release = skfusion.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # Bundles MathJax 3 and points mathjax_path at the local copy.
    "sphinx-mathjax-offline",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
# No intersphinx: the build must work without network access (see _external_reference).

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "Thumbs.db",
    ".DS_Store",
    # sphinx-gallery writes these next to the generated pages.
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.md5",
    "auto_examples/*.codeobj.json",
]
templates_path = ["_templates"]

# -- API reference -----------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"  # numpydoc docstrings already give the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- Markdown ----------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# -- Example gallery -----------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "show_memory": False,
    "download_all_examples": False,
    "doc_module": ("skfusion",),
    "backreferences_dir": "generated/backreferences",
    "inspect_global_variables": False,
}

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skfusion {release}"
html_theme_options: dict[str, Any] = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False


def _defining_module(obj: Any) -> str | None:
    """The module that defines a class member (method, property, descriptor), if known."""
    if isinstance(obj, property):
        obj = obj.fget
    if isinstance(obj, (classmethod, staticmethod)):
        obj = obj.__func__
    owner = getattr(obj, "__objclass__", None)  # methods and slots of built-in types
    if owner is not None:
        return getattr(owner, "__module__", None)
    if callable(obj):
        return getattr(obj, "__module__", None)
    return None


def _skip_foreign_members(
    app: Any, what: str, name: str, obj: Any, skip: bool, options: Any
) -> bool | None:
    # Estimators inherit get_params, set_params, set_output, metadata-routing
    # requests, ... from scikit-learn, EncodedArray every ndarray method, the
    # exceptions BaseException's: api.rst says so once instead of copying those
    # docstrings (which cross-reference their own projects' pages) everywhere.
    if what not in ("class", "exception"):
        return None
    module = _defining_module(obj)
    if module is not None and not module.startswith("skfusion"):
        return True
    return None


#: Online API pages of the projects whose objects the docs name, by URL pattern.
_EXTERNAL_API = {
    "sklearn": "https://scikit-learn.org/stable/modules/generated/{name}.html",
    "numpy": "https://numpy.org/doc/stable/reference/generated/{name}.html",
}


def _external_reference(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Link ``sklearn.*`` and ``numpy.*`` classes and functions to their API pages.

    Offline replacement for intersphinx: the URL is built from the name, so
    only classes and functions documented one per page are linked
    (``sklearn.pipeline.Pipeline``, ``numpy.ndarray``); anything else stays
    plain text, as without this handler.
    """
    from docutils import nodes

    if node.get("refdomain") != "py" or node.get("reftype") not in ("class", "func", "obj"):
        return None
    target = str(node.get("reftarget", ""))
    pattern = _EXTERNAL_API.get(target.split(".")[0])
    if pattern is None or target.count(".") < 1:
        return None
    if target.startswith("sklearn.") and target.count(".") < 2:
        return None  # sklearn.<module>.<object>: a module alone has no generated page
    reference = nodes.reference("", "", internal=False, refuri=pattern.format(name=target))
    reference += contnode
    return reference


def _unlink_emails(app: Any, doctree: Any) -> None:
    """Turn docutils' implicit e-mail links back into text.

    reStructuredText links anything shaped like ``name@host``, so metric names
    in docstrings (``nDCG@10``, ``recall@100``) became ``mailto:`` links. The
    docs contain no e-mail addresses, so every such link is an artefact.
    """
    from docutils import nodes

    for ref in list(doctree.findall(nodes.reference)):
        if str(ref.get("refuri", "")).startswith("mailto:"):
            ref.replace_self(nodes.Text(ref.astext()))


def setup(app: Any) -> None:
    app.connect("autodoc-skip-member", _skip_foreign_members)
    app.connect("missing-reference", _external_reference)
    app.connect("doctree-read", _unlink_emails)
