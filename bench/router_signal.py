"""Where the router's missing accuracy is: how well the image features predict search's gain.

    python bench/router_signal.py [--markdown bench/out/router_signal.md]

On the shipped label tables (``data/router_table*.csv``, no new runs; about a minute):
1. the default request's mapping-or-search examples: per picture kind, how often search wins (gains
   more than ``training.router.TOLERANCE`` SSIM over mapping) and the spread of its gain;
2. a forest regressor of that gain from the image and request features (two folds grouped by source
   logo, like the router): how much of the gain's variance it explains (R2) and its accuracy when
   its prediction is cut at the tolerance; again with mapping's *achieved* SSIM as an input, which
   a router cannot know before mapping has run (an upper bound for any probe of mapping's result);
3. the router itself, cross-validated on every example: as shipped, with the logo-type extras it
   already computes for every decision as inputs, and with gradient boosting instead of the forest.
The baseline in each part is in the same run: "always search" for 1 and 2, the shipped router for 3.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestRegressor
from sklearn.metrics import r2_score

from tracewise.dataset import ALL_AUGMENTATIONS, augmentations, logos
from tracewise.features import logotype_extra
from tracewise.training import router as training

sys.path.insert(0, str(Path(__file__).parent))
from loadgen import emit, machine  # noqa: E402


def _grouped(fold: np.ndarray, fit_predict) -> np.ndarray:
    out = None
    for f in (0, 1):
        train, test = fold != f, fold == f
        pred = fit_predict(train, test)
        if out is None:
            out = np.empty(len(fold), dtype=np.asarray(pred).dtype)
        out[test] = pred
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--markdown", type=Path, default=None)
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    examples = training.labelled(training.load_all())
    x, y, fold = training.design(examples)
    lines = [f"Measured {time.strftime('%Y-%m-%d %H:%M')} UTC on {machine()}; {len(examples)} examples.", ""]

    # 1. The default request's gains
    d = np.array([e["scenario"] == "default" and set(e["ssim"]) == {"mapping", "search"} for e in examples])
    gain = np.array([e["ssim"].get("search", 0.0) - e["ssim"]["mapping"] for e in examples])
    aug = np.array([e["aug"] for e in examples])
    lines += [
        f"Default request, mapping or search: {int(d.sum())} examples (1 and 5 s). "
        "Search's gain over mapping:",
        "",
        "| picture | n | label search | gain p10 | p50 | p90 |",
        "|---|---|---|---|---|---|",
    ]
    for kind in [k for k in ALL_AUGMENTATIONS if (d & (aug == k)).any()]:
        m = d & (aug == kind)
        p10, p50, p90 = np.percentile(gain[m], [10, 50, 90])
        won = np.mean(y[m] == "search")
        lines.append(f"| {kind} | {int(m.sum())} | {won:.2f} | {p10:+.4f} | {p50:+.4f} | {p90:+.4f} |")

    # 2. Predicting the gain
    mapping_ssim = np.array([e["ssim"]["mapping"] for e in examples])
    always = float(np.mean(y[d] == "search"))
    lines += [
        "",
        "| predicting search's gain (default request) | R2 | accuracy, cut at the tolerance |",
        "|---|---|---|",
    ]
    lines.append(f"| always search (baseline) | | {always:.3f} |")
    for name, inputs in (
        ("forest regressor, router inputs", x),
        ("same + mapping's achieved SSIM", np.column_stack([x, mapping_ssim])),
    ):
        xd, gd, fd = inputs[d], gain[d], fold[d]

        def fit_predict(train, test, xd=xd, gd=gd):
            model = RandomForestRegressor(200, min_samples_leaf=5, random_state=training.SEED, n_jobs=1)
            return model.fit(xd[train], gd[train]).predict(xd[test])

        pred = _grouped(fd, fit_predict)
        acc = np.mean(np.where(pred > training.TOLERANCE, "search", "mapping") == y[d])
        lines.append(f"| {name} | {r2_score(gd, pred):.3f} | {acc:.3f} |")

    # 3. The router with more inputs or another learner
    by_name = {lg.name: lg for lg in logos()}
    extras = {}
    for name in sorted({e["logo"] for e in examples}):
        for kind, picture in augmentations(by_name[name], kinds=ALL_AUGMENTATIONS):
            extras[(name, kind)] = logotype_extra(picture.rgba)
    xe = np.column_stack([x, np.array([extras[(e["logo"], e["aug"])] for e in examples])])
    lines += [
        "",
        "| router (all examples, cross-validated) | accuracy | default request | mean regret |",
        "|---|---|---|---|",
    ]
    default = np.array([e["scenario"] == "default" for e in examples])
    for name, inputs in (("forest, as shipped (baseline)", x), ("forest + logo-type extras", xe)):
        cv = training.cross_validate(examples, inputs, y, fold)
        pred = cv["predictions"]
        on_default = np.mean(pred[default] == y[default])
        lines.append(f"| {name} | {cv['accuracy']:.3f} | {on_default:.3f} | {cv['mean_regret_ssim']:.5f} |")
    for name, inputs in (("gradient boosting", x), ("gradient boosting + logo-type extras", xe)):

        def fit_predict(train, test, inputs=inputs):
            model = HistGradientBoostingClassifier(
                max_iter=200, learning_rate=0.05, random_state=training.SEED
            )
            return model.fit(inputs[train], y[train]).predict(inputs[test])

        pred = _grouped(fold, fit_predict)
        regret = np.mean([e["regret"][p] for e, p in zip(examples, pred)])
        on_default = np.mean(pred[default] == y[default])
        lines.append(f"| {name} | {np.mean(pred == y):.3f} | {on_default:.3f} | {regret:.5f} |")
    lines += ["", f"({time.perf_counter() - t0:.0f} s)"]
    emit(lines, a.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
