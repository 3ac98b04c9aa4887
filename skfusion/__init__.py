"""skfusion: scikit-learn compatible multimodal retrieval with CLIP.

Encoders turn texts and images into unit-norm embeddings, a :class:`Catalog`
holds the named components of every item, and fusion estimators rank items
for queries exactly and fast, so that whole retrieval systems fit in
``Pipeline`` and ``GridSearchCV``.
"""

from ._arrays import EncodedArray
from .catalog import Catalog
from .catalog._build import CatalogBuildError

# CalibratedFusion and Comb*Fusion are deprecated: importable for one more release,
# warning when instantiated, not in __all__.
from .fusion import (
    AgreementFusion,
    AgreementFusionCV,
    AverageFusion,
    CalibratedFusion,  # noqa: F401
    CombMAXFusion,  # noqa: F401
    CombMNZFusion,  # noqa: F401
    CombSUMFusion,  # noqa: F401
    HybridFusion,
    LearnedFusion,
    RRFusion,
    ScoreFusion,
    WeightedFusion,
)

__version__ = "0.10.0.dev0"

__all__ = [
    "AgreementFusion",
    "AgreementFusionCV",
    "AverageFusion",
    "BM25Encoder",
    "Catalog",
    "CatalogBuildError",
    "ClipEncoder",
    "EncodedArray",
    "HybridFusion",
    "LearnedFusion",
    "MixtureEncoder",
    "RRFusion",
    "ScoreFusion",
    "TextEncoder",
    "WeightedFusion",
    "__version__",
]


def __getattr__(name: str) -> object:
    # Encoders import torch and transformers; load them only when asked for.
    if name in ("BM25Encoder", "ClipEncoder", "MixtureEncoder", "TextEncoder"):
        from . import encoders

        return getattr(encoders, name)
    raise AttributeError(f"module 'skfusion' has no attribute {name!r}")
