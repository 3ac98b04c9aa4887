"""Helpers for testing code that uses skfusion without downloading model weights.

:func:`make_tiny_clip` writes a tiny CLIP model with random weights, and its
processor, to a directory. :class:`~skfusion.ClipEncoder` loads it like any
other local model directory, so a pipeline, a catalog build or a test suite
runs end to end offline and in seconds. Its embeddings carry no meaning: use
it to check that code runs and that shapes, ids and file formats are right,
never to judge retrieval quality. Swap in a real model id or directory
(``"openai/clip-vit-base-patch32"``) for real results.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["make_tiny_clip"]


def make_tiny_clip(directory: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Save a tiny random ``CLIPModel`` and its ``CLIPProcessor`` to a directory.

    The model has the architecture of CLIP at toy size: two transformer
    layers per tower, a 16-token text context, 32×32 images in 8×8 patches
    and 16-dimensional embeddings. Its tokenizer is a byte-level BPE without
    merges (every byte is a token), built here, so nothing is downloaded.
    Building it takes about a second on a CPU (after importing torch and
    transformers) and the directory holds about 250 kB.

    Parameters
    ----------
    directory : str or path-like
        Where to save the model; created if missing. Existing model files
        in it are overwritten.
    seed : int, default=0
        Seed of the random weights: the same seed gives the same model, and
        two seeds give two models of the same shape that embed differently.

    Returns
    -------
    pathlib.Path
        ``directory``, to pass as the model of
        :class:`~skfusion.ClipEncoder`.

    Examples
    --------
    >>> import tempfile
    >>> from skfusion import ClipEncoder
    >>> from skfusion.testing import make_tiny_clip
    >>> clip = make_tiny_clip(tempfile.mkdtemp())
    >>> ClipEncoder(str(clip), modality="text").transform(["red shoes"]).shape
    (1, 16)
    """
    import torch
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
    )

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    chars = sorted(ByteLevel.alphabet())
    vocab: dict[str, int] = {}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tokenizer = CLIPTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"))
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 16,
            "bos_token_id": vocab["<|startoftext|>"],
            "eos_token_id": vocab["<|endoftext|>"],
            "pad_token_id": vocab["<|endoftext|>"],
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    # A private generator: building the model leaves the global torch seed alone.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPModel(config)
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        ),
        tokenizer=tokenizer,
    )
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
