"""Small bundled datasets for examples and tests."""

from skfusion.datasets._cranfield import load_cranfield
from skfusion.datasets._shoes import load_shoes

__all__ = ["load_cranfield", "load_shoes"]
