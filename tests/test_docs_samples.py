"""Every ```python sample of README.md and docs/*.md runs, offline.

A page's samples run in order in one namespace, as a reader would type them
into one session, inside a fresh temporary working directory (samples that
save files write there). Two rules make that possible without network
access or model weights:

- **The CLIP model.** Samples name the real model, ``"openai/clip-vit-base-patch32"``,
  as a user would. Before running a page, this test replaces that quoted
  model id — and nothing else — with the directory of a tiny random CLIP
  built by :func:`skfusion.testing.make_tiny_clip`, the same helper users
  are pointed to in docs/install.md ("Try it without model weights").
- **Deliberate fragments.** A block that cannot run here (it needs a GPU, a
  cluster, data that is not shipped) is marked by the line
  ``<!-- skip-sample: REASON -->`` right before its opening fence. Skipped
  blocks are counted: ``EXPECTED_SKIPS`` lists them, so adding one is a
  visible decision.

Other fence languages (``bash``, ``text``) are not run; a fence spelled like
Python in another way (``py``, ``pycon``, ``python3``) is an error, so no
sample escapes by its spelling.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from skfusion.testing import make_tiny_clip

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: The model id the samples use; replaced by the tiny CLIP's directory.
MODEL_ID = "openai/clip-vit-base-patch32"
#: Fence languages that are not Python and are left alone.
OTHER_LANGUAGES = {"bash", "text", "", "{toctree}"}
#: (page, reason) of every block marked ``<!-- skip-sample: ... -->``.
EXPECTED_SKIPS = [
    ("docs/backends.md", "needs a CUDA GPU"),
    ("docs/distributed.md", "needs a Dask cluster and data on shared storage"),
    ("docs/distributed.md", "needs a Dask cluster and data on shared storage"),
    ("docs/distributed.md", "needs a Dask cluster and data on shared storage"),
]

_FENCE = re.compile(r"^```(\S*)\s*$")
_SKIP = re.compile(r"^<!--\s*skip-sample:\s*(.*?)\s*-->\s*$")


@dataclass
class Block:
    page: str
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    skip: str | None  # the reason, for a block marked skip-sample


def code_blocks(text: str, page: str) -> list[Block]:
    """Fenced blocks of a Markdown page, with the skip marker that precedes each."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        start, language = i, match.group(1)
        end = start + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        if end == len(lines):
            raise ValueError(f"{page}:{start + 1}: unclosed code fence")
        marker = _SKIP.match(lines[start - 1]) if start > 0 else None
        blocks.append(
            Block(
                page=page,
                line=start + 1,
                language=language,
                code="\n".join(lines[start + 1 : end]) + "\n",
                skip=marker.group(1) if marker else None,
            )
        )
        i = end + 1
    return blocks


def page_blocks(path: Path) -> list[Block]:
    return code_blocks(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))


def test_code_blocks_parser_on_a_sample() -> None:
    sample = "text\n```python\na = 1\n```\n<!-- skip-sample: why -->\n```python\nb\n```\n"
    blocks = code_blocks(sample, "x.md")
    assert [(b.line, b.code, b.skip) for b in blocks] == [(2, "a = 1\n", None), (6, "b\n", "why")]
    with pytest.raises(ValueError, match="unclosed"):
        code_blocks("```python\na = 1\n", "x.md")


def test_every_fence_is_python_or_a_known_other_language() -> None:
    odd = [
        f"{b.page}:{b.line}: ```{b.language}"
        for path in PAGES
        for b in page_blocks(path)
        if b.language != "python" and b.language not in OTHER_LANGUAGES
    ]
    assert not odd, f"unknown fence languages (use ```python to have a sample run): {odd}"


def test_skip_markers_are_few_and_precede_python_blocks() -> None:
    skipped = []
    for path in PAGES:
        text = path.read_text(encoding="utf-8")
        blocks = page_blocks(path)
        markers = sum(bool(_SKIP.match(line)) for line in text.splitlines())
        marked = [b for b in blocks if b.skip is not None]
        assert markers == len(marked), f"{path.name}: a skip-sample marker not before a fence"
        for b in marked:
            assert b.language == "python", f"{b.page}:{b.line}: skip-sample on a non-Python block"
            assert b.skip, f"{b.page}:{b.line}: skip-sample needs a reason"
            skipped.append((b.page, b.skip))
    assert skipped == EXPECTED_SKIPS


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_tiny_clip(tmp_path_factory.mktemp("docs-clip")))


def _runnable_pages() -> list[Path]:
    return [
        p for p in PAGES if any(b.language == "python" and b.skip is None for b in page_blocks(p))
    ]


@pytest.mark.parametrize("path", _runnable_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_samples_run(
    path: Path, tiny_clip: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__main__"}
    ran = 0
    for block in page_blocks(path):
        if block.language != "python" or block.skip is not None:
            continue
        code = block.code.replace(f'"{MODEL_ID}"', repr(tiny_clip))
        # Keep the line numbers of the page in tracebacks.
        source = "\n" * block.line + code
        with warnings.catch_warnings():
            # The tiny model's context is 16 tokens, so most texts are cut.
            warnings.filterwarnings("ignore", message=".*truncated", category=UserWarning)
            warnings.filterwarnings("ignore", message=".*torchvision", category=UserWarning)
            exec(compile(source, f"{block.page}", "exec"), namespace)
        ran += 1
    assert ran > 0


def test_testing_helper_docstring_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import doctest

    import skfusion.testing

    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torchvision", category=UserWarning)
        result = doctest.testmod(skfusion.testing, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
