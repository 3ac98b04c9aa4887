"""BM25 lexical vectors: sparse query term counts and BM25 document weights.

:class:`BM25Encoder` splits Okapi BM25 into two sparse matrices so that a
query's BM25 score for every document is one sparse product,
``score(q, d) = transform(q) @ document_weights(d).T``: the query side holds
the counts of the query's terms, the document side each term's saturated,
length-normalised weight times its IDF. The document-side matrix is what a
:class:`~skfusion.Catalog` stores as a lexical component (``lexical=``), and
fusion strategies multiply it inside their scan over the catalog's blocks.

Why scikit-learn's ``CountVectorizer`` plus our own weighting rather than a
BM25 library such as ``bm25s``: the catalog needs the document-term weight
matrix itself as a SciPy sparse matrix (stored in the catalog directory and
multiplied block by block), which such libraries keep as an internal index;
``CountVectorizer`` is already a dependency (through scikit-learn) and brings
scikit-learn's tokenising parameters (``lowercase``, ``stop_words``,
``token_pattern``, ``ngram_range``, ``min_df``, ``max_df``). ``bm25s`` serves
in the tests as the independent reference.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from numbers import Integral, Real
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

__all__ = ["BM25Encoder"]


class _StemmingTokenizer:
    """Split with ``token_pattern``, drop stop words, then stem (PyStemmer).

    A class rather than a closure so that the fitted vectorizer pickles.
    """

    def __init__(self, token_pattern: str, language: str, stop_words: frozenset[str]) -> None:
        self.token_pattern = token_pattern
        self.language = language
        self.stop_words = stop_words
        self._stemmer: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_stemmer": None}

    def __call__(self, text: str) -> list[str]:
        if self._stemmer is None:
            self._stemmer = _load_stemmer(self.language)
        tokens = [t for t in re.findall(self.token_pattern, text) if t not in self.stop_words]
        return list(self._stemmer.stemWords(tokens))


def _load_stemmer(language: str) -> Any:
    try:
        import Stemmer
    except ImportError as exc:
        raise ImportError(
            f"BM25Encoder(stemmer={language!r}) needs PyStemmer: install the 'lexical' extra "
            "(pip install 'skfusion[lexical]') or PyStemmer itself."
        ) from exc
    try:
        return Stemmer.Stemmer(language)
    except KeyError as exc:
        raise ValueError(
            f"stemmer={language!r} is not a language PyStemmer knows; valid ones are "
            f"{sorted(Stemmer.algorithms())}."
        ) from exc


def _check_texts(texts: Any, what: str) -> list[str]:
    if isinstance(texts, str):
        raise TypeError(
            f"{what} must be an iterable of strings (one per text), not a single string; "
            "wrap it in a list."
        )
    if isinstance(texts, np.ndarray) and texts.ndim != 1:
        raise ValueError(f"{what} must be 1-D (one string per text), got shape {texts.shape}.")
    if not isinstance(texts, Iterable):
        raise TypeError(f"{what} must be an iterable of strings, got {type(texts).__name__}.")
    out = list(texts)
    for k, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(
                f"{what} must hold strings; item {k} is a {type(t).__name__} ({t!r:.40})."
            )
    return out


class BM25Encoder(TransformerMixin, BaseEstimator):
    """Sparse BM25 vectors for lexical search: query term counts and document weights.

    ``fit(documents)`` learns the vocabulary (scikit-learn's
    :class:`~sklearn.feature_extraction.text.CountVectorizer`), each term's
    inverse document frequency and the average document length. Then

    * :meth:`transform` gives QUERY vectors: the count ``c(q, t)`` of each
      vocabulary term in the query (out-of-vocabulary terms are dropped);
    * :meth:`document_weights` gives DOCUMENT vectors

      .. math::

         w(d, t) = \\mathrm{idf}(t)\\,
         \\frac{tf(d, t)\\,(k_1 + 1)}{tf(d, t) + k_1 (1 - b + b\\,|d| / \\mathrm{avgdl})}

      with the Lucene IDF :math:`\\mathrm{idf}(t) = \\ln(1 + (N - df_t + 0.5)/(df_t + 0.5))`
      (never negative), ``|d|`` the number of in-vocabulary tokens of ``d``
      and ``avgdl`` their mean over the fitted documents,

    so that the BM25 score (Robertson & Zaragoza 2009, *The Probabilistic
    Relevance Framework: BM25 and Beyond*, eq. 3.15 with Lucene's IDF) is
    ``transform(q) @ document_weights(d).T``; a query term repeated ``m``
    times counts ``m`` times. It equals ``bm25s``'s ``method="lucene"`` score
    times ``k1 + 1`` (Lucene dropped that constant factor, which changes no
    ranking).

    Parameters
    ----------
    k1 : float, default=1.5
        Term-frequency saturation (≥ 0).
    b : float, default=0.75
        Length normalisation, in [0, 1].
    lowercase : bool, default=True
    stop_words : {"english"}, list of str or None, default=None
        Words removed before counting (and before stemming).
    token_pattern : str, default=r"(?u)\\b\\w\\w+\\b"
        Regular expression of a token, as in ``CountVectorizer``.
    ngram_range : tuple (min_n, max_n), default=(1, 1)
    min_df, max_df : float or int, default=1 and 1.0
        Vocabulary cut-offs, as in ``CountVectorizer``.
    stemmer : str or None, default=None
        A Snowball language (``"english"``, ``"french"``, …) to stem tokens
        with PyStemmer (the ``lexical`` extra); no stemming when None.

    Attributes
    ----------
    vectorizer_ : CountVectorizer
        The fitted tokeniser and vocabulary.
    vocabulary_ : dict of str to int
        Term to column.
    idf_ : ndarray of shape (n_terms,), float64
    avgdl_ : float
        Mean number of in-vocabulary tokens per fitted document.
    n_documents_ : int

    Examples
    --------
    >>> from skfusion.encoders import BM25Encoder
    >>> docs = ["red running shoes", "blue shoes", "red hat"]
    >>> enc = BM25Encoder().fit(docs)
    >>> scores = (enc.transform(["red shoes"]) @ enc.document_weights(docs).T).toarray()
    >>> [round(float(s), 3) for s in scores[0]]
    [0.833, 0.502, 0.502]
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "k1": [Interval(Real, 0, None, closed="left")],
        "b": [Interval(Real, 0, 1, closed="both")],
        "lowercase": ["boolean"],
        "stop_words": [StrOptions({"english"}), list, None],
        "token_pattern": [str],
        "ngram_range": [tuple],
        "min_df": [Interval(Real, 0, 1, closed="both"), Interval(Integral, 1, None, closed="left")],
        "max_df": [Interval(Real, 0, 1, closed="both"), Interval(Integral, 1, None, closed="left")],
        "stemmer": [str, None],
    }

    def __init__(
        self,
        *,
        k1: float = 1.5,
        b: float = 0.75,
        lowercase: bool = True,
        stop_words: str | list[str] | None = None,
        token_pattern: str = r"(?u)\b\w\w+\b",
        ngram_range: tuple[int, int] = (1, 1),
        min_df: float | int = 1,
        max_df: float | int = 1.0,
        stemmer: str | None = None,
    ) -> None:
        self.k1 = k1
        self.b = b
        self.lowercase = lowercase
        self.stop_words = stop_words
        self.token_pattern = token_pattern
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.stemmer = stemmer

    def _vectorizer(self) -> CountVectorizer:
        common: dict[str, Any] = {
            "lowercase": self.lowercase,
            "ngram_range": self.ngram_range,
            "min_df": self.min_df,
            "max_df": self.max_df,
            "dtype": np.float64,
        }
        if self.stemmer is None:
            return CountVectorizer(
                stop_words=self.stop_words, token_pattern=self.token_pattern, **common
            )
        _load_stemmer(self.stemmer)  # a missing PyStemmer or language fails at fit
        if self.stop_words == "english":
            stop = frozenset(ENGLISH_STOP_WORDS)
        else:
            stop = frozenset(self.stop_words or ())
        tokenizer = _StemmingTokenizer(self.token_pattern, self.stemmer, stop)
        return CountVectorizer(tokenizer=tokenizer, token_pattern=None, **common)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Iterable[str], y: Any = None) -> BM25Encoder:
        """Learn the vocabulary, the IDF of each term and the average document length.

        Parameters
        ----------
        X : iterable of str
            The documents (the catalog's texts).
        y : ignored

        Returns
        -------
        self
        """
        docs = _check_texts(X, "X (the documents)")
        if not docs:
            raise ValueError("BM25Encoder.fit needs at least one document.")
        vec = self._vectorizer()
        try:
            counts = sp.csr_array(vec.fit_transform(docs))
        except ValueError as exc:  # an empty vocabulary
            raise ValueError(
                f"BM25Encoder found no terms in the {len(docs)} document(s): {exc}"
            ) from exc
        n_docs = counts.shape[0]
        df = np.bincount(counts.indices, minlength=counts.shape[1]).astype(np.float64)
        self.vectorizer_ = vec
        self.vocabulary_ = dict(vec.vocabulary_)
        self.idf_ = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        self.avgdl_ = float(counts.sum()) / n_docs
        self.n_documents_ = n_docs
        return self

    def _counts(self, X: Any, what: str) -> sp.csr_array:
        check_is_fitted(self)
        texts = _check_texts(X, what)
        counts = sp.csr_array(self.vectorizer_.transform(texts))
        counts.sort_indices()
        return counts

    def transform(self, X: Iterable[str]) -> sp.csr_array:
        """Query vectors: counts of the vocabulary's terms in each text.

        Parameters
        ----------
        X : iterable of str
            The queries.

        Returns
        -------
        scipy.sparse.csr_array of shape (n_texts, n_terms), float32
            A row without a known term is empty (it scores 0 everywhere).
        """
        return self._counts(X, "X (the queries)").astype(np.float32)

    def document_weights(self, X: Iterable[str]) -> sp.csr_array:
        """Document vectors: BM25 weights ``w(d, t)`` of the terms of each text.

        Parameters
        ----------
        X : iterable of str
            The documents (usually the fitted ones, in catalog order).

        Returns
        -------
        scipy.sparse.csr_array of shape (n_texts, n_terms), float32
            Non-negative, sorted indices; a text without a known term gives
            an empty row (a catalog then treats its lexical component as
            missing).
        """
        tf = self._counts(X, "X (the documents)")
        lengths = np.diff(tf.indptr)
        doc_len = np.asarray(tf.sum(axis=1)).ravel()
        k1, b = float(self.k1), float(self.b)
        avgdl = self.avgdl_ if self.avgdl_ > 0 else 1.0
        norm = k1 * (1.0 - b + b * doc_len / avgdl)  # per document
        data = tf.data * (k1 + 1.0) / (tf.data + np.repeat(norm, lengths))
        data *= self.idf_[tf.indices]
        out = sp.csr_array((data.astype(np.float32), tf.indices.copy(), tf.indptr.copy()), tf.shape)
        out.has_sorted_indices = True
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The vocabulary's terms, in column order."""
        check_is_fitted(self)
        return np.asarray(self.vectorizer_.get_feature_names_out(), dtype=object)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.one_d_array = True
        tags.input_tags.string = True
        tags.input_tags.sparse = False
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = []
        return tags
