"""Checks of the documentation sources that need no Sphinx build.

The full build (``python -m sphinx -W -b html docs docs/_build/html``) runs in
CI after the tests; these tests catch the two mistakes that are easy to make
while editing the package: a public object left out of the API reference,
and a page left out of every table of contents.
"""

from __future__ import annotations

import importlib
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
