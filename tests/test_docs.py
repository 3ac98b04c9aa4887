"""Checks of the documentation sources that need no Sphinx build.

The full build (``python -m sphinx -W -b html docs docs/_build/html``) runs in
CI after the tests; these tests catch the mistakes that are easy to make
while editing the package: a public object left out of the API reference, a
page left out of every table of contents, and a reference to a file that is
not in the repository.

The ``test_built_*`` tests check the built site itself and run only when
``SKFUSION_DOCS_HTML`` names a build folder; ``.ci/run`` sets it after the
Sphinx build::

    SKFUSION_DOCS_HTML=docs/_build/html python -m pytest tests/test_docs.py -k built
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
API = DOCS / "api.rst"
PUBLIC_MODULES = (
    "skfusion",
    "skfusion.fusion",
    "skfusion.encoders",
    "skfusion.metrics",
    "skfusion.evaluation",
    "skfusion.io",
    "skfusion.datasets",
    "skfusion.demo",
    "skfusion.testing",
)


def documented_names(text: str) -> set[str]:
    """Fully qualified names listed by autosummary or ``py:`` directives in ``text``.

    An autosummary entry is qualified by the ``currentmodule`` in force where
    it appears; ``.. py:data:: Name`` likewise. Names written as literal text
    (``skfusion.__version__``) count too.
    """
    names: set[str] = set()
    module = ""
    in_autosummary = False
    for line in text.splitlines():
        stripped = line.strip()
        if match := re.match(r"\.\. (?:py:)?currentmodule:: (\S+)", stripped):
            module = match.group(1)
            in_autosummary = False
        elif stripped.startswith(".. autosummary::"):
            in_autosummary = True
        elif match := re.match(r"\.\. py:(?:data|function|class|exception):: (\w+)", stripped):
            names.add(f"{module}.{match.group(1)}")
            in_autosummary = False
        elif in_autosummary:
            if not line.startswith(" ") and stripped:
                in_autosummary = False
            elif stripped and not stripped.startswith(":"):
                names.add(stripped if "." in stripped else f"{module}.{stripped}")
    names.update(re.findall(r"``(skfusion(?:\.\w+)+)``", text))
    return names


def resolve(qualified: str) -> Any:
    module_name, _, attr = qualified.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


@pytest.fixture(scope="module")
def api_names() -> set[str]:
    return documented_names(API.read_text(encoding="utf-8"))


def test_documented_names_parser_on_a_sample() -> None:
    sample = """
.. currentmodule:: pkg

.. autosummary::
   :toctree: generated/

   Alpha
   beta

Text ``skfusion.__version__`` and ``not_a_package.x``.

.. currentmodule:: pkg.sub

.. py:data:: GAMMA
   :type: int

.. autosummary::

   delta
"""
    assert documented_names(sample) == {
        "pkg.Alpha",
        "pkg.beta",
        "skfusion.__version__",
        "pkg.sub.GAMMA",
        "pkg.sub.delta",
    }


def test_every_documented_name_exists(api_names: set[str]) -> None:
    missing = []
    for name in sorted(api_names):
        try:
            resolve(name)
        except (ImportError, AttributeError):
            missing.append(name)
    assert not missing, f"docs/api.rst lists names that do not exist: {missing}"


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_name_is_in_the_api_reference(module_name: str, api_names: set[str]) -> None:
    module: ModuleType = importlib.import_module(module_name)
    # A re-exported object (skfusion.HybridFusion is skfusion.fusion.HybridFusion)
    # is documented once, under any of its public names.
    documented_ids = {id(resolve(name)) for name in api_names}
    undocumented = [
        name
        for name in module.__all__
        if f"{module_name}.{name}" not in api_names
        and id(getattr(module, name)) not in documented_ids
    ]
    assert not undocumented, (
        f"{module_name}.__all__ names missing from docs/api.rst: {undocumented}"
    )


def _toctree_entries(text: str) -> set[str]:
    entries: set[str] = set()
    for block in re.findall(r"```\{toctree\}\n(.*?)```", text, flags=re.DOTALL):
        for line in block.splitlines():
            line = line.strip()
            if line and not line.startswith(":") and not line.startswith("<!--"):
                entries.add(line)
    return entries


def test_every_page_is_in_a_toctree() -> None:
    listed: set[str] = set()
    for path in DOCS.glob("*.md"):
        listed |= _toctree_entries(path.read_text(encoding="utf-8"))
    listed |= {"api", "auto_examples/index"}
    pages = {p.stem for p in DOCS.glob("*.md")} | {p.stem for p in DOCS.glob("*.rst")}
    pages -= {"index", "sg_execution_times"}
    assert not pages - listed, f"pages in no toctree (the build would fail): {pages - listed}"


ROOT = DOCS.parent


def test_no_reference_to_files_outside_the_repository() -> None:
    # The design notes the code grew from are not part of the repository; the
    # docs state the facts or point into docs/ instead.
    sources = [ROOT / "README.md", *DOCS.glob("*.md"), *DOCS.glob("*.rst")]
    sources += [*(ROOT / "skfusion").rglob("*.py"), *(ROOT / "examples").rglob("*.py")]
    sources += [*(ROOT / "benchmarks").rglob("*.py")]
    offenders = [
        str(path.relative_to(ROOT))
        for path in sources
        if re.search(r"DESIGN\.md|\.\./shared/", path.read_text(encoding="utf-8"))
    ]
    assert not offenders, f"references to files outside the repository in {offenders}"


# -- the built site ------------------------------------------------------------

BUILT = os.environ.get("SKFUSION_DOCS_HTML")
needs_build = pytest.mark.skipif(not BUILT, reason="SKFUSION_DOCS_HTML (a built site) not set")


def _pages() -> list[Path]:
    assert BUILT is not None
    pages = sorted(Path(BUILT).rglob("*.html"))
    assert pages, f"no HTML pages under {BUILT}"
    return pages


@needs_build
def test_built_pages_have_no_mailto_links() -> None:
    # reStructuredText turns "nDCG@10" into an e-mail link; conf.py undoes it.
    bad = [p.name for p in _pages() if "mailto:" in p.read_text(encoding="utf-8")]
    assert not bad, f"mailto: links in {bad}"


@needs_build
def test_built_pages_load_no_remote_scripts_or_styles() -> None:
    # sphinx-gallery's execution-time tables load a table-sorting script from a
    # CDN; offline they are plain tables, which is all they need to be.
    remote = re.compile(r"<(?:script|link)\b[^>]*(?:src|href)=\"(?:https?:)?//", re.IGNORECASE)
    pages = [p for p in _pages() if p.name != "sg_execution_times.html"]
    bad = [p.name for p in pages if remote.search(p.read_text(encoding="utf-8"))]
    assert not bad, f"pages loading scripts or styles from the network: {bad}"


@needs_build
def test_built_math_renders_from_the_bundled_mathjax() -> None:
    site = Path(str(BUILT))
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert (site / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    with_math = [p for p in _pages() if 'class="math' in p.read_text(encoding="utf-8")]
    assert with_math, "no page with math: the check would prove nothing"
    for page in with_math:
        text = page.read_text(encoding="utf-8")
        assert re.search(r'<script[^>]*src="[^"]*_static/mathjax/tex-chtml\.js', text), page.name


@needs_build
def test_built_api_pages_are_titled_by_full_name() -> None:
    # The API sidebar lists these titles; short and qualified names must not mix.
    generated = sorted((Path(str(BUILT)) / "generated").glob("*.html"))
    assert generated
    titles = {}
    for page in generated:
        match = re.search(r"<h1>(.*?)<a", page.read_text(encoding="utf-8"), re.DOTALL)
        assert match, page.name
        titles[page.name] = re.sub(r"<[^>]+>", "", match.group(1)).strip()
    short = {name: t for name, t in titles.items() if not t.startswith("skfusion.")}
    assert not short, f"API pages not titled by their full name: {short}"


@needs_build
def test_built_pages_link_scikit_learn_objects() -> None:
    index = (Path(str(BUILT)) / "index.html").read_text(encoding="utf-8")
    for name in ("sklearn.pipeline.Pipeline", "sklearn.model_selection.GridSearchCV"):
        assert f"scikit-learn.org/stable/modules/generated/{name}.html" in index, name


def test_cli_help_names_one_default_command_and_shows_defaults() -> None:
    from skfusion.cli import build_parser

    parser = build_parser()
    top = parser.format_help()
    assert top.count("default command") == 1
    assert "runs 'demo'" in top
    sub = next(a for a in parser._actions if a.dest == "command").choices
    demo, shoes = sub["demo"].format_help(), sub["shoes"].format_help()
    assert "(default: 5)" in demo  # --folds
    assert "(default: auto)" in shoes  # --device
    assert "(default: None)" not in demo + shoes
