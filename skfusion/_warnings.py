"""Warnings attributed to the user's code, and summaries of repeated warnings.

A warning raised deep inside skfusion, or inside scikit-learn's model
selection calling skfusion, should point at the line of the user's program
that caused it, not at ``sklearn/model_selection/_validation.py``.
:func:`warn_at_caller` walks out of the frames of skfusion, scikit-learn and
joblib (Python 3.12's ``skip_file_prefixes`` does the same; this works on
3.10 and 3.11 too). :func:`summarised_warnings` turns the hundreds of copies
of one warning that a cross-validation raises into one warning with a count.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from importlib import import_module
from typing import Any

__all__ = [
    "WarnOnceMixin",
    "internal_prefixes",
    "summarised_warnings",
    "user_stacklevel",
    "warn_at_caller",
]

_RECORD_LOCK = threading.Lock()


def internal_prefixes() -> tuple[str, ...]:
    """Paths whose frames are not the user's code: skfusion, scikit-learn, joblib, contextlib."""
    prefixes = [os.path.dirname(os.path.abspath(__file__)) + os.sep]
    prefixes.append(os.path.abspath(contextlib.__file__))  # frames of `with` blocks
    for name in ("sklearn", "joblib"):
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if path:
            prefixes.append(os.path.dirname(os.path.abspath(path)) + os.sep)
    return tuple(prefixes)


def user_stacklevel(prefixes: tuple[str, ...] | None = None) -> int:
    """The ``stacklevel`` of the first frame outside ``prefixes``, for a caller of this function.

    Level 1 is the function that calls :func:`user_stacklevel`; the result
    counts up from there past every frame whose file lies under one of
    ``prefixes`` (default :func:`internal_prefixes`). When every frame is
    internal the outermost one is used.
    """
    skip = internal_prefixes() if prefixes is None else prefixes
    frame = sys._getframe(1)
    level = 1
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(skip):
            return level
        if frame.f_back is None:
            return level
        frame = frame.f_back
        level += 1
    return level  # pragma: no cover - the loop always returns


def warn_at_caller(message: str, category: type[Warning] = UserWarning) -> None:
    """Issue a warning attributed to the first frame outside skfusion, sklearn and joblib."""
    prefixes = internal_prefixes()
    if sys.version_info >= (3, 12):
        warnings.warn(message, category, stacklevel=2, skip_file_prefixes=prefixes)
    else:
        # user_stacklevel counts from warn_at_caller; warnings.warn counts from here too.
        warnings.warn(message, category, stacklevel=user_stacklevel(prefixes))


@contextmanager
def summarised_warnings(where: str) -> Iterator[None]:
    """Collect the warnings raised inside the block; re-issue one per kind with its count.

    Warnings are grouped by category and the place that raised them (file
    and line); each group becomes a single warning at the user's call site
    (:func:`warn_at_caller`) whose message starts with the group's first
    message, so filters on the original message or category still apply,
    followed by ``[raised N times during <where>]`` when N > 1.
    """
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            try:
                yield
            finally:
                caught = list(record)
    except BaseException:
        with contextlib.suppress(Warning):  # a filter set to "error" must not mask the error
            _reissue(caught, where)
        raise
    _reissue(caught, where)


def _reissue(caught: list[warnings.WarningMessage], where: str) -> None:
    groups: dict[tuple[Any, str, int], list[warnings.WarningMessage]] = {}
    for w in caught:
        groups.setdefault((w.category, w.filename, w.lineno), []).append(w)
    for (category, _, _), items in groups.items():
        message = str(items[0].message)
        if len(items) > 1:
            message += f" [raised {len(items):,} times during {where}; this was the first]"
        warn_at_caller(message, category)


class WarnOnceMixin:
    """Warn once per estimator and kind; count every occurrence.

    For scikit-learn estimators: the counts live in a record shared by the
    estimator and its clones (:func:`sklearn.base.clone`, which
    ``GridSearchCV`` and ``cross_validate`` call for every candidate and
    fold), so a search reports each kind once, at the user's line, and
    ``warning_counts_`` keeps the running totals. Put it before
    ``BaseEstimator`` in the bases.
    """

    def _warning_record(self) -> dict[str, int]:
        """Counts per warning kind, shared by this estimator and its clones."""
        record: dict[str, int] | None = self.__dict__.get("_warning_counts")
        if record is None:
            with _RECORD_LOCK:
                record = self.__dict__.setdefault("_warning_counts", {})
        assert record is not None
        return record

    @property
    def warning_counts_(self) -> dict[str, int]:
        """How many items (or pairs) each kind of warning has concerned so far.

        Counted over every call of this estimator and of its clones, including
        the calls that did not warn because the kind had already been
        reported. Empty when nothing was reported.
        """
        record = self._warning_record()
        with _RECORD_LOCK:
            return dict(record)

    def __sklearn_clone__(self) -> Any:
        new = super().__sklearn_clone__()  # type: ignore[misc]
        # Clones share the record: a search warns once, not once per candidate and fold.
        new.__dict__["_warning_counts"] = self._warning_record()
        return new

    def _warn_once(
        self, kind: str, count: int, message: str, category: type[Warning] = UserWarning
    ) -> None:
        """Warn about ``kind`` the first time it happens to this estimator or a clone.

        Always adds ``count`` to ``warning_counts_[kind]``; the warning is
        attributed to the user's code (:func:`warn_at_caller`).
        """
        record = self._warning_record()
        with _RECORD_LOCK:
            first = kind not in record
            record[kind] = record.get(kind, 0) + int(count)
        if first:
            warn_at_caller(
                f"{message} This is reported once for {self._warning_owner()} and its clones; "
                f"warning_counts_[{kind!r}] keeps the running count.",
                category,
            )

    def _count_only(self, kind: str, count: int) -> None:
        """Add ``count`` to ``warning_counts_[kind]`` without warning (an expected case)."""
        record = self._warning_record()
        with _RECORD_LOCK:
            record[kind] = record.get(kind, 0) + int(count)

    def _warning_owner(self) -> str:
        """How the estimator is named in its warnings."""
        return type(self).__name__


def deprecated_attributes(
    package: str, table: Mapping[str, tuple[str, ...]]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` that serves the deprecated public names of ``package``.

    ``table`` maps each name to ``(module, replacement)`` — the object of the
    same name in ``module`` (relative to ``package``) — or to ``(module,
    attribute, replacement)``. Each access warns with a :class:`FutureWarning`
    naming the replacement, at the caller's line; other names raise the usual
    :class:`AttributeError`.
    """

    def __getattr__(name: str) -> Any:
        entry = table.get(name)
        if entry is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, *rest = entry
        attribute, replacement = (name, rest[0]) if len(rest) == 1 else rest
        warnings.warn(
            f"{package}.{name} is deprecated and will be removed from the public API in the "
            f"next release; use {replacement}.",
            FutureWarning,
            stacklevel=2,
        )
        return getattr(import_module(module, package), attribute)

    return __getattr__
