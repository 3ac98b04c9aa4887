"""CLIP image preprocessing split into a CPU part (loader threads) and a device part."""

from __future__ import annotations

from typing import Any

from PIL import Image

__all__ = ["ResizeCrop"]


#: Image processors whose preprocessing :class:`ResizeCrop` reproduces: CLIP's
#: PIL-based ones (transformers 4's ``CLIPImageProcessor``, transformers 5's
#: ``CLIPImageProcessorPil``). The torchvision backends resize differently.
_RESIZE_CROP_PROCESSORS = frozenset({"CLIPImageProcessor", "CLIPImageProcessorPil"})


def _get(config: Any, key: str) -> Any:
    """``config[key]`` for a dict, ``config.key`` for transformers' ``SizeDict``."""
    if config is None:
        return None
    if isinstance(config, dict):
        return config.get(key)
    return getattr(config, key, None)


class ResizeCrop:
    """CLIP image preprocessing split into a CPU part and a device part.

    The CPU part (:meth:`__call__`, run in loader threads) resizes an RGB
    image with PIL so that its shortest edge is ``shortest_edge``, crops the
    centre ``crop_height`` x ``crop_width`` and returns uint8 pixels; the
    device part (:meth:`to_tensor`) stacks a batch, moves it to the model's
    device as uint8 (a quarter of the float32 bytes) and rescales and
    normalises it there. Together they compute what CLIP's PIL image
    processor computes (same output size rule, resampling filter, crop
    offsets, rescale factor, mean and std), up to float rounding.

    Parameters
    ----------
    shortest_edge : int
        Length of the shortest edge after resizing.
    crop_height, crop_width : int
        Size of the centre crop.
    resample : int
        PIL resampling filter.
    rescale_factor : float
        Multiplier applied to the uint8 values (1/255).
    mean, std : tuple of float
        Per-channel normalisation.
    composite_alpha : bool, default=False
        Composite images with an alpha band or a transparency colour onto
        white first, as transformers 5's PIL processors do.
    """

    def __init__(
        self,
        shortest_edge: int,
        crop_height: int,
        crop_width: int,
        resample: int,
        rescale_factor: float,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        composite_alpha: bool = False,
    ) -> None:
        self.composite_alpha = bool(composite_alpha)
        self.shortest_edge = int(shortest_edge)
        self.crop_height = int(crop_height)
        self.crop_width = int(crop_width)
        self.resample = int(resample)
        self.rescale_factor = float(rescale_factor)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    @classmethod
    def from_processor(cls, processor: Any) -> ResizeCrop | None:
        """The split preprocessing equivalent to ``processor``, or None.

        Parameters
        ----------
        processor : transformers image processor
            The model's image processor.

        Returns
        -------
        ResizeCrop or None
            None when ``processor`` is not a PIL-based CLIP image processor
            with the usual resize, centre crop, rescale and normalise steps;
            callers then use the processor itself.
        """
        if type(processor).__name__ not in _RESIZE_CROP_PROCESSORS:
            return None
        if getattr(processor, "backend", "pil") != "pil":
            return None
        flags = ("do_resize", "do_center_crop", "do_rescale", "do_normalize")
        if not all(getattr(processor, f, False) is True for f in flags):
            return None
        if getattr(processor, "do_convert_rgb", True) is False or getattr(
            processor, "do_pad", False
        ):
            return None
        size, crop = getattr(processor, "size", None), getattr(processor, "crop_size", None)
        short = _get(size, "shortest_edge")
        extra = [_get(size, k) for k in ("longest_edge", "height", "width")]
        height, width = _get(crop, "height"), _get(crop, "width")
        mean, std = getattr(processor, "image_mean", None), getattr(processor, "image_std", None)
        resample = getattr(processor, "resample", None)
        if not isinstance(short, int) or any(v is not None for v in extra):
            return None
        if not (isinstance(height, int) and isinstance(width, int)):
            return None
        if not isinstance(mean, list | tuple) or not isinstance(std, list | tuple):
            return None
        if len(mean) != 3 or len(std) != 3 or resample is None:
            return None
        if height > short or width > short:
            return None  # the processor would pad; keep its own path
        return cls(
            short,
            height,
            width,
            int(resample),
            processor.rescale_factor,
            tuple(mean),
            tuple(std),
            composite_alpha=type(processor).__name__ == "CLIPImageProcessorPil",
        )

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) after the shortest-edge resize (transformers' rule)."""
        if width <= height:
            return self.shortest_edge, int(self.shortest_edge * height / width)
        return int(self.shortest_edge * width / height), self.shortest_edge

    def __call__(self, image: Image.Image) -> Any:
        """Resize and centre-crop one RGB image.

        Parameters
        ----------
        image : PIL.Image.Image
            An RGB image.

        Returns
        -------
        numpy.ndarray of shape (crop_height, crop_width, 3), uint8
        """
        import numpy as np

        if self.composite_alpha and (
            "A" in image.getbands() or image.info.get("transparency") is not None
        ):
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, rgba).convert("RGB")
        elif image.mode != "RGB":
            image = image.convert("RGB")
        new_w, new_h = self.output_size(*image.size)
        resized = image.resize((new_w, new_h), resample=self.resample)
        top = (new_h - self.crop_height) // 2
        left = (new_w - self.crop_width) // 2
        cropped = resized.crop((left, top, left + self.crop_width, top + self.crop_height))
        return np.asarray(cropped, dtype=np.uint8)

    def to_tensor(self, arrays: list[Any], device: Any, dtype: Any) -> Any:
        """Stack uint8 crops into a normalised (B, 3, H, W) tensor on ``device``.

        Parameters
        ----------
        arrays : list of numpy.ndarray of shape (H, W, 3), uint8
            Outputs of :meth:`__call__`.
        device : torch.device or str
            Where the model runs.
        dtype : torch.dtype
            The model's dtype; rescaling and normalisation are done in
            float32 and the result is cast to it.

        Returns
        -------
        torch.Tensor of shape (B, 3, crop_height, crop_width)
        """
        import numpy as np
        import torch

        batch = torch.from_numpy(np.stack(arrays)).to(device)
        x = batch.permute(0, 3, 1, 2).to(torch.float32) * self.rescale_factor
        mean = torch.tensor(self.mean, dtype=torch.float32, device=x.device)[None, :, None, None]
        std = torch.tensor(self.std, dtype=torch.float32, device=x.device)[None, :, None, None]
        return ((x - mean) / std).to(dtype).contiguous()
