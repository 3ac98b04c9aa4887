"""skfusion: scikit-learn compatible multimodal retrieval with CLIP.

Encoders turn texts and images into unit-norm embeddings, a :class:`Catalog`
holds the named components of every item, and fusion estimators rank items
for queries exactly and fast, so that whole retrieval systems fit in
``Pipeline`` and ``GridSearchCV``.
"""

from ._arrays import EncodedArray
from .catalog import Catalog
from .catalog._build import CatalogBuildError
from .fusion import (
    AgreementFusion,
    AgreementFusionCV,
    AverageFusion,
    CalibratedFusion,
    CombMAXFusion,
    CombMNZFusion,
    CombSUMFusion,
    HybridFusion,
    LearnedFusion,
    RRFusion,
    WeightedFusion,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "AgreementFusion",
    "AgreementFusionCV",
    "AverageFusion",
    "CalibratedFusion",
    "Catalog",
    "CatalogBuildError",
    "ClipEncoder",
    "CombMAXFusion",
    "CombMNZFusion",
    "CombSUMFusion",
    "EncodedArray",
    "HybridFusion",
    "LearnedFusion",
    "MixtureEncoder",
    "RRFusion",
    "TextEncoder",
    "WeightedFusion",
    "__version__",
]


def __getattr__(name: str) -> object:
    # Encoders import torch and transformers; load them only when asked for.
    if name in ("ClipEncoder", "MixtureEncoder", "TextEncoder"):
        from . import encoders

        return getattr(encoders, name)
    raise AttributeError(f"module 'skfusion' has no attribute {name!r}")
