"""Bundled datasets for examples and tests, and a synthetic catalog generator."""

from skfusion.datasets._cranfield import load_cranfield
from skfusion.datasets._cranfield_minilm import load_cranfield_minilm
from skfusion.datasets._shoes import load_shoes
from skfusion.datasets._synthetic import load_coco_clip, make_catalog

__all__ = [
    "load_coco_clip",
    "load_cranfield",
    "load_cranfield_minilm",
    "load_shoes",
    "make_catalog",
]
