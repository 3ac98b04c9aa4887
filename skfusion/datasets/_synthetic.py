"""Synthetic multimodal catalogs calibrated to real CLIP geometry.

:func:`make_catalog` plays the role of :func:`sklearn.datasets.make_classification`
for retrieval: a catalog of items with named text and image components, text
queries and graded judgments, whose cosine statistics match real CLIP
embeddings. :func:`load_coco_clip` loads the real embeddings it is calibrated
against.
"""

from __future__ import annotations

import functools
import io
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import ndtri
from sklearn.utils import Bunch

__all__ = ["load_coco_clip", "make_catalog"]

_DATA_PACKAGE = "skfusion.data.coco_clip"
_COCO_FILE = "features_clip.npy"

#: The modalities a component can have; queries are always text.
_MODALITIES = ("text", "image")

# ---------------------------------------------------------------------------
# Calibrated constants. They were chosen by measuring make_catalog(n_items=2000,
# n_queries=500) against the bundled COCO CLIP sample (docs/synthetic.md gives
# the table and the command); they are constants, never fitted at call time.
# ---------------------------------------------------------------------------

#: Mean pairwise cosine within a modality (the "cone effect"), per modality.
_CONE = {"text": 0.516, "image": 0.532}
#: ‖mean(text) − mean(image)‖ of unit embeddings (Liang et al., 2022).
_MODALITY_GAP = 0.851
#: Noise of a query, a text view of its target item.
_QUERY_NOISE = 1.85
#: Share of an item's latent variance that comes from its topic centre.
_TOPIC_SHARE = 0.65
#: Latent and noise variances decay as (j + 1) ** -_SPECTRUM_DECAY over the
#: dimensions (CLIP embeddings have a low effective rank).
_SPECTRUM_DECAY = 1.2
#: The default components: name -> (modality, noise).
_DEFAULT_COMPONENTS: dict[str, tuple[str, float]] = {
    "title": ("text", 1.0),
    "description": ("text", 1.4),
    "image": ("image", 1.2),
}
#: Noise of a component named in a sequence or without "noise" in its spec.
_DEFAULT_NOISE = 1.0
#: Items judged per grade below the target's top grade.
_PER_GRADE = 2
#: Rows generated per block: small enough for the block to stay in cache.
_BLOCK_ROWS = 1024
#: Most threads used to generate blocks.
_MAX_THREADS = 8


def load_coco_clip() -> Bunch:
    """Load 500 real CLIP image–caption embedding pairs from COCO.

    OpenAI CLIP ViT-B/16 embeddings of 500 COCO val2017 image–caption pairs,
    from the public Modality-Gap study (Liang et al., 2022; MIT licence, see
    ``DESCR``). Row *i* of ``images`` and row *i* of ``captions`` are a
    matched pair. :func:`make_catalog` is calibrated to their cosine
    statistics.

    Returns
    -------
    data : sklearn.utils.Bunch
        Dictionary-like object with the fields:

        images : ndarray of shape (500, 512), float32
            L2-normalised image embeddings.
        captions : ndarray of shape (500, 512), float32
            L2-normalised caption embeddings, matched to ``images`` by row.
        DESCR : str
            Description of the data (its README).

    Examples
    --------
    >>> from skfusion.datasets import load_coco_clip
    >>> coco = load_coco_clip()
    >>> coco.images.shape, coco.captions.dtype
    ((500, 512), dtype('float32'))
    >>> round(float((coco.images * coco.captions).sum(axis=1).mean()), 2)
    0.31
    """
    root = resources.files(_DATA_PACKAGE)
    features = np.load(io.BytesIO((root / _COCO_FILE).read_bytes()), allow_pickle=False)
    if features.ndim != 3 or features.shape[0] != 2:
        raise ValueError(f"{_COCO_FILE} has shape {features.shape}, expected (2, n_pairs, dim)")
    features = np.asarray(features, dtype=np.float64)
    features /= np.linalg.norm(features, axis=2, keepdims=True)
    return Bunch(
        images=features[0].astype(np.float32),
        captions=features[1].astype(np.float32),
        DESCR=(root / "README.md").read_text(encoding="utf-8"),
    )


# ---------------------------------------------------------------------------
# Parameter checking
# ---------------------------------------------------------------------------


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    return int(value)


def _check_real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}.")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}.")
    return value


def _resolve_components(
    components: Mapping[str, Mapping[str, Any]] | Sequence[str] | None,
) -> dict[str, tuple[str, float]]:
    """Component name -> (modality, noise), in order."""
    if components is None:
        return dict(_DEFAULT_COMPONENTS)
    if isinstance(components, str):
        raise ValueError(
            "components must be a mapping of name to spec or a sequence of names, "
            f"not the string {components!r}."
        )
    if isinstance(components, Mapping):
        specs = dict(components)
    else:
        names = list(components)
        if len(set(names)) != len(names):
            raise ValueError(f"components has duplicate names: {names}.")
        specs = {name: {} for name in names}
    if not specs:
        raise ValueError("components must name at least one component.")
    resolved: dict[str, tuple[str, float]] = {}
    for name, spec in specs.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"component names must be non-empty strings, got {name!r}.")
        if not isinstance(spec, Mapping):
            raise ValueError(
                f"component {name!r}: spec must be a dict with keys 'modality' and "
                f"'noise', got {spec!r}."
            )
        unknown = set(spec) - {"modality", "noise"}
        if unknown:
            raise ValueError(
                f"component {name!r}: unknown spec keys {sorted(unknown)}; "
                "valid keys are ['modality', 'noise']."
            )
        default_modality, default_noise = _DEFAULT_COMPONENTS.get(name, ("text", _DEFAULT_NOISE))
        modality = spec.get("modality", default_modality)
        if modality not in _MODALITIES:
            raise ValueError(
                f"component {name!r}: unknown modality {modality!r}; "
                f"valid modalities are {list(_MODALITIES)}."
            )
        noise = _check_real(spec.get("noise", default_noise), f"component {name!r}: noise")
        if noise < 0:
            raise ValueError(f"component {name!r}: noise must be >= 0, got {noise}.")
        resolved[name] = (modality, noise)
    return resolved


def _resolve_cone(cone: float | Mapping[str, float] | None) -> dict[str, float]:
    if cone is None:
        values = dict(_CONE)
    elif isinstance(cone, Mapping):
        unknown = set(cone) - set(_MODALITIES)
        if unknown:
            raise ValueError(
                f"cone names unknown modalities {sorted(map(str, unknown))}; "
                f"valid modalities are {list(_MODALITIES)}."
            )
        values = {m: _check_real(cone.get(m, _CONE[m]), f"cone[{m!r}]") for m in _MODALITIES}
    else:
        c = _check_real(cone, "cone")
        values = dict.fromkeys(_MODALITIES, c)
    for modality, value in values.items():
        if not 0.0 <= value < 1.0:
            raise ValueError(f"cone must be in [0, 1), got {value} for {modality}.")
    return values


def _resolve_gap(modality_gap: float | None, cone: Mapping[str, float]) -> float:
    """Cosine between the text and image centre directions giving ``modality_gap``."""
    gap = _MODALITY_GAP if modality_gap is None else _check_real(modality_gap, "modality_gap")
    rt, ri = np.sqrt(cone["text"]), np.sqrt(cone["image"])
    # The centroids have norms rt and ri, so their distance lies in [|rt - ri|, rt + ri].
    low, high = abs(rt - ri), rt + ri
    if not low - 1e-12 <= gap <= high + 1e-12:
        raise ValueError(
            f"modality_gap must be in [{low:.4g}, {high:.4g}] for cone text={cone['text']:.4g}, "
            f"image={cone['image']:.4g} (the distance between the two modality centroids), "
            f"got {gap}."
        )
    if rt * ri == 0.0:
        return 1.0
    return float(np.clip((rt**2 + ri**2 - gap**2) / (2.0 * rt * ri), -1.0, 1.0))


def _resolve_missing(
    missing_rate: float | Mapping[str, float], names: Sequence[str]
) -> dict[str, float]:
    if isinstance(missing_rate, Mapping):
        unknown = [str(n) for n in missing_rate if n not in names]
        if unknown:
            raise ValueError(
                f"missing_rate names unknown components {unknown}; components are {list(names)}."
            )
        rates = {n: _check_real(missing_rate.get(n, 0.0), f"missing_rate[{n!r}]") for n in names}
    else:
        rate = _check_real(missing_rate, "missing_rate")
        rates = dict.fromkeys(names, rate)
    for name, rate in rates.items():
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"missing_rate must be in [0, 1), got {rate} for {name!r}.")
    return rates


def _seed_sequence(random_state: Any) -> np.random.SeedSequence:
    if isinstance(random_state, np.random.RandomState):
        return np.random.SeedSequence(int(random_state.randint(0, 2**31 - 1)))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative integer, got {random_state}.")
        random_state = int(random_state)
    elif random_state is not None and not isinstance(random_state, np.random.Generator):
        raise ValueError(
            "random_state must be None, an int, a numpy Generator or a RandomState, "
            f"got {random_state!r}."
        )
    # An int and default_rng(int) give the same catalog.
    rng = np.random.default_rng(random_state)
    return np.random.SeedSequence(int(rng.integers(0, 2**63 - 1)))


# ---------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------


def _spectrum_scale(dim: int) -> np.ndarray:
    """Per-dimension standard deviations of a latent vector of expected norm 1."""
    variances = np.arange(1, dim + 1, dtype=np.float64) ** -_SPECTRUM_DECAY
    return np.sqrt(variances / variances.sum()).astype(np.float32)


@functools.cache
def _normal_table() -> np.ndarray:
    """N(0, 1) quantiles at (k + 0.5) / 65536, k < 65536, rescaled to unit variance."""
    table = ndtri((np.arange(65536) + 0.5) / 65536)
    table /= np.sqrt(np.mean(table**2))
    return table.astype(np.float32)


def _fill_normal(seed: np.random.SeedSequence, out: np.ndarray) -> None:
    """Fill ``out`` with standard normal draws quantised to 16 bits.

    A table look-up of raw PCG64 output: about five times faster than
    ``Generator.standard_normal`` in float32, which dominates the run time
    otherwise. The draws are truncated at ±4.3 (probability 1.5e-5).
    """
    bits = np.random.PCG64(seed).random_raw(-(-out.size // 4))
    np.take(_normal_table(), bits.view(np.uint16)[: out.size].reshape(out.shape), out=out)


def _run_blocks(
    seed: np.random.SeedSequence, n_rows: int, work: Callable[[np.random.SeedSequence, slice], None]
) -> None:
    """Call ``work(block_seed, rows)`` on blocks of rows, on a few threads.

    Every block has its own seed spawned from ``seed``, so the result does not
    depend on the number of threads or on their scheduling.
    """
    starts = range(0, n_rows, _BLOCK_ROWS)
    jobs = [
        (block_seed, slice(start, min(start + _BLOCK_ROWS, n_rows)))
        for block_seed, start in zip(seed.spawn(len(starts)), starts, strict=True)
    ]
    n_threads = min(_MAX_THREADS, os.cpu_count() or 1, len(jobs))
    if n_threads <= 1:
        for job in jobs:
            work(*job)
        return
    with ThreadPoolExecutor(n_threads) as pool:
        for _ in pool.map(lambda job: work(*job), jobs):
            pass


def _latent(
    seed: np.random.SeedSequence, topics: np.ndarray, n_topics: int, scale: np.ndarray
) -> np.ndarray:
    """z_i = sqrt(s) c_topic(i) + sqrt(1 - s) u_i, both Gaussian with covariance diag(scale²)."""
    dim = scale.shape[0]
    centre_seed, item_seed = seed.spawn(2)
    centres = np.empty((n_topics, dim), dtype=np.float32)
    centre_scale = np.float32(np.sqrt(_TOPIC_SHARE)) * scale
    item_scale = np.float32(np.sqrt(1.0 - _TOPIC_SHARE)) * scale

    def make_centres(block_seed: np.random.SeedSequence, rows: slice) -> None:
        block = centres[rows]
        _fill_normal(block_seed, block)
        block *= centre_scale

    def make_items(block_seed: np.random.SeedSequence, rows: slice) -> None:
        block = z[rows]
        _fill_normal(block_seed, block)
        block *= item_scale
        block += centres[topics[rows]]

    _run_blocks(centre_seed, n_topics, make_centres)
    z = np.empty((topics.shape[0], dim), dtype=np.float32)
    _run_blocks(item_seed, topics.shape[0], make_items)
    return z


def _views(
    seed: np.random.SeedSequence,
    z: np.ndarray,
    rows: np.ndarray | None,
    noise_scale: np.ndarray,
    centre: np.ndarray,
    cone: float,
) -> np.ndarray:
    """Unit rows sqrt(cone) centre + sqrt(1 - cone) r⊥ / ‖r⊥‖ with r = z + noise.

    ``r⊥`` is ``r`` with its component along ``centre`` removed, so every row
    has exactly the projection ``sqrt(cone)`` on its modality's centre.
    ``rows`` selects rows of ``z`` (None: all of them, in order).
    """
    n = z.shape[0] if rows is None else rows.shape[0]
    out = np.empty((n, z.shape[1]), dtype=np.float32)
    radial = np.float32(np.sqrt(cone))
    tangential = np.float32(np.sqrt(1.0 - cone))
    tiny = np.float32(1e-30)

    def make(block_seed: np.random.SeedSequence, part: slice) -> None:
        block = out[part]
        _fill_normal(block_seed, block)
        block *= noise_scale
        block += z[part] if rows is None else z[rows[part]]
        along = np.einsum("ij,j->i", block, centre)
        across = np.einsum("ij,ij->i", block, block) - along * along
        factor = tangential / np.sqrt(np.maximum(across, tiny))
        block *= factor[:, None]
        block += np.outer(radial - factor * along, centre)

    _run_blocks(seed, n, make)
    return out


def _centres(rng: np.random.Generator, dim: int, cos_gap: float) -> dict[str, np.ndarray]:
    """Unit centre directions of the modalities, with cosine ``cos_gap`` between them.

    Both are built from a common cone direction ``o`` and an offset direction
    ``p`` orthogonal to it: text = cos(θ/2) o + sin(θ/2) p, image = cos(θ/2) o
    − sin(θ/2) p, with cos θ = ``cos_gap``.
    """
    basis, _ = np.linalg.qr(rng.standard_normal((dim, 2)))
    o, p = basis[:, 0], basis[:, 1]
    half = np.arccos(cos_gap) / 2.0
    return {
        "text": (np.cos(half) * o + np.sin(half) * p).astype(np.float32),
        "image": (np.cos(half) * o - np.sin(half) * p).astype(np.float32),
    }


def _judgments(
    z: np.ndarray,
    topics: np.ndarray,
    n_topics: int,
    targets: np.ndarray,
    relevance_levels: int,
) -> sp.csr_matrix:
    """Graded qrels: the target gets ``relevance_levels``; the same-topic items
    closest to it in latent space get the lower grades, ``_PER_GRADE`` per grade."""
    n_queries, n_items = targets.shape[0], z.shape[0]
    rows = [np.arange(n_queries)]
    cols = [targets]
    gains = [np.full(n_queries, float(relevance_levels))]
    n_extra = _PER_GRADE * (relevance_levels - 1)
    if n_extra > 0:
        order = np.argsort(topics, kind="stable")  # items by topic, ascending index within one
        bounds = np.concatenate([[0], np.cumsum(np.bincount(topics, minlength=n_topics))])
        query_topics = topics[targets]
        query_order = np.argsort(query_topics, kind="stable")
        query_bounds = np.concatenate(
            [[0], np.cumsum(np.bincount(query_topics, minlength=n_topics))]
        )
        for topic in np.flatnonzero(np.diff(query_bounds)):
            members = order[bounds[topic] : bounds[topic + 1]]
            k = min(n_extra, members.shape[0] - 1)
            if k == 0:
                continue
            latent = z[members]
            inverse_norms = 1.0 / np.sqrt(np.einsum("ij,ij->i", latent, latent))
            queries = query_order[query_bounds[topic] : query_bounds[topic + 1]]
            for start in range(0, queries.shape[0], 1024):
                chunk = queries[start : start + 1024]
                position = np.searchsorted(members, targets[chunk])
                # Cosines in float32: only the order of the few closest items matters.
                sims = (latent[position] @ latent.T) * inverse_norms
                sims[np.arange(chunk.shape[0]), position] = -np.inf
                top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
                top = np.take_along_axis(
                    top, np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1), axis=1
                )
                grade = relevance_levels - 1 - np.arange(k) // _PER_GRADE
                rows.append(np.repeat(chunk, k))
                cols.append(members[top].ravel())
                gains.append(np.tile(grade.astype(np.float64), chunk.shape[0]))
    qrels = sp.csr_matrix(
        (np.concatenate(gains), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_queries, n_items),
        dtype=np.float64,
    )
    qrels.sort_indices()
    return qrels


def make_catalog(
    n_items: int = 1000,
    n_queries: int = 100,
    *,
    components: Mapping[str, Mapping[str, Any]] | Sequence[str] | None = None,
    dim: int = 512,
    n_topics: int = 50,
    modality_gap: float | None = None,
    cone: float | Mapping[str, float] | None = None,
    missing_rate: float | Mapping[str, float] = 0.0,
    relevance_levels: int = 3,
    random_state: int | np.random.Generator | np.random.RandomState | None = None,
) -> Bunch:
    """Generate a synthetic multimodal catalog with text queries and graded judgments.

    The counterpart of :func:`sklearn.datasets.make_classification` for
    multimodal retrieval. With the defaults the cosine statistics match real
    CLIP ViT-B/16 embeddings of COCO (:func:`load_coco_clip`): matched
    query–image cosine ≈ 0.31, unmatched ≈ 0.16, mean pairwise image–image
    cosine ≈ 0.53 and text–text ≈ 0.52 (the "cone effect"), and text–image
    cosines sit far below text–text ones (the "modality gap").

    **Generative model.** Let ``Λ = diag(λ_j)`` with ``λ_j ∝ (j + 1) ** -1.2``
    and ``Σ λ_j = 1``: a steep spectrum, because CLIP embeddings have a low
    effective rank (it sets the spread of the cosines).

    1. Items are split evenly over ``n_topics`` topics (shuffled). Topic
       centres ``c_k ~ N(0, Λ)``; item latents
       ``z_i = sqrt(0.65) c_k(i) + sqrt(0.35) u_i`` with ``u_i ~ N(0, Λ)``.
    2. Component ``c`` is a noisy view ``r_ic = z_i + σ_c ε_ic`` of the item,
       ``ε_ic ~ N(0, P_c Λ P_cᵀ)``, where ``σ_c`` is the component's
       ``noise`` and ``P_c`` a random permutation per component: the
       variation of each component (and of the queries) has its own
       principal axes, shared by all the items.
    3. Each modality has a unit centre ``μ_m = cos(θ/2) o ± sin(θ/2) p``
       built from a common cone direction ``o`` and a modality offset ``p``
       orthogonal to it (``+`` text, ``−`` image). The embedding is
       ``e_ic = sqrt(g_m) μ_m + sqrt(1 − g_m) r⊥ / ‖r⊥‖``, with ``r⊥`` the part
       of ``r_ic`` orthogonal to ``μ_m`` and ``g_m`` the ``cone`` of the
       modality: rows are unit length and the mean pairwise cosine within a
       modality is ``g_m`` plus a small topic term (+0.002 to +0.004 with
       the defaults). ``θ`` is set so that the distance between the two
       modality centroids, ``‖sqrt(g_text) μ_text − sqrt(g_image) μ_image‖``,
       equals ``modality_gap``. Text–image cosines therefore sit well below
       text–text ones, and an image's offset from the text centre adds a
       query-independent term to its text–image cosines, so at equal noise
       an image component retrieves worse than a text one, as with CLIP.
    4. A query is a text view of a target item with noise 1.85 (the
       caption-like queries of the calibration). Targets are distinct items
       (drawn with replacement only when ``n_queries > n_items``).
    5. Judgments: the target gets gain ``relevance_levels``; the other items
       of its topic, ranked by latent cosine ``cos(z_j, z_target)``, get
       gains ``relevance_levels − 1, relevance_levels − 2, …, 1``, two items
       per grade. A query therefore has between 1 and
       ``2 relevance_levels − 1`` judged items, all with positive gains.
    6. Each component of each item is missing with probability
       ``missing_rate`` (independently). An item that would lose every
       component keeps one, chosen uniformly, so the realised rate is
       slightly lower (by ``rate ** C / C`` for ``C`` components with equal
       rates). Missing rows are all zero. Rows that are present do not
       depend on ``missing_rate``.

    The normal draws are 16-bit quantised (a table of N(0, 1) quantiles
    indexed by raw PCG64 output, truncated at ±4.3), about five times faster
    than ``Generator.standard_normal``. Every part (geometry and topics,
    latents, masks, queries, each component) has its own random stream
    derived from ``random_state``, and every block of rows its own seed, so
    the output does not depend on the number of threads (up to 8 are used),
    and adding a component at the end or changing ``missing_rate`` leaves
    the other arrays unchanged. Memory: the output plus one ``n_items × dim``
    float32 latent matrix (1,000,000 × 512 with three components: 5.7 GiB
    out, 8.0 GiB peak).

    Parameters
    ----------
    n_items : int, default=1000
        Number of catalog items.
    n_queries : int, default=100
        Number of text queries.
    components : mapping or sequence of str, optional
        Component name to a spec ``{"modality": "text" | "image", "noise":
        float >= 0}``; the spec's keys may be omitted. A sequence of names
        uses default specs. The defaults are ``title`` (text, noise 1.0),
        ``description`` (text, 1.4) and ``image`` (image, 1.2); any other name
        defaults to text with noise 1.0. A larger noise gives a less useful
        component. ``None`` gives the three default components.
    dim : int, default=512
        Embedding dimension.
    n_topics : int, default=50
        Number of latent topics, between 1 and ``n_items``. Items of a topic
        are close to each other and to each other's queries.
    modality_gap : float, optional
        Distance between the text and image centroids of the unit embeddings
        (Liang et al., 2022). ``None`` uses the COCO value 0.851. 0 removes
        the gap when both modalities have the same cone.
    cone : float or mapping of modality to float, optional
        Mean pairwise cosine within a modality, in [0, 1). A float sets both
        modalities. ``None`` uses the COCO values, text 0.516 and image 0.532.
    missing_rate : float or mapping of str to float, default=0.0
        Probability that a component of an item is missing, in [0, 1); a
        mapping gives it per component (components not named: 0).
    relevance_levels : int, default=3
        Number of positive grades. 1 gives binary judgments (the target only).
    random_state : int, numpy Generator, RandomState or None, default=None
        Seed of the generator; an int gives reproducible output (the same as
        ``np.random.default_rng(int)``).

    Returns
    -------
    data : sklearn.utils.Bunch
        Dictionary-like object with the fields:

        components : dict of str to ndarray of shape (n_items, dim), float32
            Unit-row embeddings per component; missing rows are zero.
        masks : dict of str to ndarray of shape (n_items,), bool
            True where the component is present.
        modalities : dict of str to str
            ``"text"`` or ``"image"`` per component.
        queries : ndarray of shape (n_queries, dim), float32
            Unit-row text query embeddings.
        qrels : scipy.sparse.csr_matrix of shape (n_queries, n_items), float64
            Graded gains; every row has at least one positive entry.
        relevance : scipy.sparse.csr_matrix
            The same matrix as ``qrels``, under the name the other dataset
            loaders use (:func:`~skfusion.datasets.load_cranfield`,
            :func:`~skfusion.io.load_beir`).
        targets : ndarray of shape (n_queries,), int
            The target item of each query (it has the top gain).
        topics : ndarray of shape (n_items,), int
            The latent topic of each item.
        ids : ndarray of str, shape (n_items,)
            Item ids ``"item-00000"``, ``"item-00001"``, ….
        DESCR : str
            A description of the generator and of the parameters used.

    Raises
    ------
    ValueError
        For invalid sizes, noise, modality, rates, cone, gap or levels.

    Examples
    --------
    >>> from skfusion.datasets import make_catalog
    >>> data = make_catalog(n_items=200, n_queries=20, random_state=0)
    >>> sorted(data.components), data.components["image"].shape
    (['description', 'image', 'title'], (200, 512))
    >>> data.qrels.shape, int(data.qrels[0, data.targets[0]])
    ((20, 200), 3)
    """
    n_items = _check_int(n_items, "n_items", 1)
    n_queries = _check_int(n_queries, "n_queries", 1)
    dim = _check_int(dim, "dim", 2)
    n_topics = _check_int(n_topics, "n_topics", 1)
    if n_topics > n_items:
        raise ValueError(f"n_topics must be <= n_items ({n_items}), got {n_topics}.")
    relevance_levels = _check_int(relevance_levels, "relevance_levels", 1)
    specs = _resolve_components(components)
    names = list(specs)
    cones = _resolve_cone(cone)
    cos_gap = _resolve_gap(modality_gap, cones)
    rates = _resolve_missing(missing_rate, names)

    seeds = _seed_sequence(random_state).spawn(4 + len(names))
    geometry_rng, mask_rng, query_rng = (np.random.default_rng(s) for s in seeds[:3])

    scale = _spectrum_scale(dim)
    centres = _centres(geometry_rng, dim, cos_gap)
    topics = geometry_rng.permutation(np.arange(n_items) % n_topics)
    z = _latent(seeds[3], topics, n_topics, scale)

    arrays: dict[str, np.ndarray] = {}
    for seed, name in zip(seeds[4:], names, strict=True):
        modality, noise = specs[name]
        axes_seed, noise_seed = seed.spawn(2)
        axes = np.random.default_rng(axes_seed).permutation(dim)
        arrays[name] = _views(
            noise_seed, z, None, np.float32(noise) * scale[axes], centres[modality], cones[modality]
        )

    masks = {name: mask_rng.random(n_items) >= rates[name] for name in names}
    empty = np.flatnonzero(~np.logical_or.reduce([masks[n] for n in names]))
    keep = mask_rng.integers(0, len(names), size=empty.shape[0])
    for k, name in enumerate(names):
        masks[name][empty[keep == k]] = True
    for name in names:
        arrays[name][~masks[name]] = 0.0

    replace = n_queries > n_items
    targets = query_rng.choice(n_items, size=n_queries, replace=replace).astype(np.intp)
    query_axes = query_rng.permutation(dim)
    queries = _views(
        seeds[2].spawn(1)[0],
        z,
        targets,
        np.float32(_QUERY_NOISE) * scale[query_axes],
        centres["text"],
        cones["text"],
    )
    qrels = _judgments(z, topics, n_topics, targets, relevance_levels)
    del z

    width = max(5, len(str(n_items - 1)))
    ids = np.char.add("item-", np.char.zfill(np.arange(n_items).astype(str), width))

    description = ", ".join(
        f"{name} ({specs[name][0]}, noise {specs[name][1]:g}, missing {rates[name]:g})"
        for name in names
    )
    descr = (
        "Synthetic multimodal catalog (skfusion.datasets.make_catalog).\n\n"
        f"{n_items} items in {n_topics} topics, {n_queries} text queries, dim {dim}.\n"
        f"Components: {description}.\n"
        f"Cone: text {cones['text']:g}, image {cones['image']:g}; modality gap "
        f"{(_MODALITY_GAP if modality_gap is None else modality_gap):g}; query noise "
        f"{_QUERY_NOISE:g}.\n"
        f"Judgments: target gain {relevance_levels}, then {_PER_GRADE} same-topic items per "
        "lower grade, by latent similarity to the target.\n"
        "Calibrated to OpenAI CLIP ViT-B/16 on COCO (load_coco_clip); see docs/synthetic.md."
    )
    return Bunch(
        components=arrays,
        masks=masks,
        modalities={name: specs[name][0] for name in names},
        queries=queries,
        qrels=qrels,
        relevance=qrels,
        targets=targets,
        topics=topics.astype(np.intp),
        ids=ids,
        DESCR=descr,
    )
