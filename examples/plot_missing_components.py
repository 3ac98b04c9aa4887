"""
Items with missing components
=============================

Real catalogs are incomplete: some products have no image, some documents no abstract.
skfusion keeps such items and scores each one on the components it has. This example shows
how to declare missing components, and what happens to retrieval quality as images go missing,
with masks and with a common workaround — filling the gaps with a placeholder embedding.
"""

# %%
# Declaring missing components
# ----------------------------
# Give :meth:`~skfusion.Catalog.from_arrays` a boolean mask per component (True = present), or
# leave the missing rows all NaN. Missing rows are stored as zeros and every strategy is defined
# on the components each item has.
import matplotlib.pyplot as plt
import numpy as np

from skfusion import AverageFusion, Catalog, HybridFusion, WeightedFusion
from skfusion.datasets import make_catalog

rng = np.random.default_rng(0)
title = rng.normal(size=(4, 8))
image = rng.normal(size=(4, 8))
image[2] = np.nan  # item "c" has no image
tiny = Catalog.from_arrays(
    {"title": title, "image": image}, ids=["a", "b", "c", "d"], normalize=True
)
print(tiny.mask)  # (n_components, n_items): True where present
query = title[2:3] / np.linalg.norm(title[2])
print(AverageFusion(tiny).fit().decision_function(query).round(3))

# %%
# Item "c" is scored on its title alone: its title equals the query, so its fused cosine is 1,
# not the value a zero image would have dragged it down to.
#
# Quality as images go missing
# ----------------------------
# :func:`~skfusion.datasets.make_catalog` generates 2,000 items with a title, a description and
# an image, and 300 judged text queries, with the geometry of real CLIP embeddings. We remove
# a growing share of images and compare two ways of handling them:
#
# * **mask**: the catalog knows which images are missing;
# * **placeholder**: every missing image is replaced by the same vector, the mean of the
#   images present (what a "no image available" picture amounts to).


def with_placeholder(data):
    """The components with missing images filled by the mean image, and no mask."""
    components = {name: m.copy() for name, m in data.components.items()}
    present = data.masks["image"]
    mean = components["image"][present].mean(axis=0)
    components["image"][~present] = mean / np.linalg.norm(mean)
    return components


strategies = {
    "average": AverageFusion,
    "fixed 0.4/0.3/0.3": lambda c: WeightedFusion(c, weights=[0.4, 0.3, 0.3]),
    "hybrid": HybridFusion,
}
rates = [0.0, 0.2, 0.4, 0.6]
ndcg = {(how, name): [] for how in ("mask", "placeholder") for name in strategies}
for rate in rates:
    data = make_catalog(2000, 300, missing_rate={"image": rate}, random_state=0)
    catalogs = {
        "mask": Catalog.from_arrays(data.components, ids=data.ids, masks=data.masks),
        "placeholder": Catalog.from_arrays(with_placeholder(data), ids=data.ids),
    }
    for how, catalog in catalogs.items():
        for name, make in strategies.items():
            ndcg[how, name].append(make(catalog).fit().score(data.queries, data.qrels))
    for how in catalogs:
        row = ", ".join(f"{n} {ndcg[how, n][-1]:.3f}" for n in strategies)
        print(f"{rate:.0%} images missing, {how}: {row}")

# %%
# Plot
# ----
fig, ax = plt.subplots(figsize=(7, 4))
for j, name in enumerate(strategies):
    ax.plot(rates, ndcg["mask", name], "o-", color=f"C{j}", label=f"{name}, mask")
    ax.plot(
        rates,
        ndcg["placeholder", name],
        "s--",
        color=f"C{j}",
        alpha=0.6,
        label=f"{name}, placeholder",
    )
ax.set_xlabel("share of items without an image")
ax.set_ylabel("nDCG@10 (300 queries)")
ax.set_xticks(rates, [f"{r:.0%}" for r in rates])
ax.set_title("Synthetic CLIP-like catalog with missing images")
ax.legend(fontsize=7, ncols=2)
fig.tight_layout()
plt.show()

# %%
# What the curves say
# -------------------
# A mask is not a free win for every strategy. Hybrid fusion does better with the mask than
# with the placeholder, and loses little as images go missing. The average and fixed
# weights collapse with the mask as soon as images are missing: because of the modality gap
# (see :ref:`sphx_glr_auto_examples_plot_modality_gap.py`), an item scored on its texts alone
# gets a higher cosine than a complete item whose low-cosine image pulls its fused vector away
# from the query, so image-less items crowd the top of every ranking. For them the placeholder,
# which keeps every item on the same footing, is the better choice. Which handling wins is a
# property of the strategy and the embedding geometry: measure it on judged queries.
# :class:`~skfusion.AgreementFusion` takes a third way, left out here to keep this example
# short: it completes each missing component by a regression from the components the item
# has (see :doc:`/strategies` and :doc:`/strategy_benchmark`).
