"""Does a dynamic network fit the merged sources better than a static one when capacity is short? Sources only.

DRT's premise (its Figure 2) is that one static model cannot fit many sub-domains at once, and that a model that
adapts its kernels per image can. On our digits analogue at 03_drt's width (16-32-48) the premise does not show on
the sources: the routing network's merged-source test accuracy equals the static one's at 600, 1,200 and 2,400
steps (results/drt.md, "DRT: the source-only stage's length"), and neither a sharper softmax nor a faster routing
branch changed that. A network of that width may simply have room for all four sources. This screen trains 03_drt's
source-only recipe (report budget, 1,200 steps) on narrower networks, static and routing (K = 4), for every
leave-one-out target, and compares their accuracy on the merged sources' test images. No target image is read and
no adaptation is run.

**The rule, written before any run at a narrower width**: for each width, the *premise gap* of a seed is the
routing network's merged-source test accuracy minus the static network's, averaged over the five leave-one-out
targets. The premise holds at a width if its gap is at least 1.0 point on every seed. If it holds at one or more of
the narrower widths, 03_drt and 03a move to the widest of them (both networks: the static baseline stays the same
network with the residuals off), and the notebooks are re-run; if at none, the width stays 16-32-48 and the result
is recorded. The 16-32-48 row is measured on the same machine in the same run, for reference only.

    python studies/drt_capacity.py --widths 16-32-48 8-16-24 4-8-12 --seeds 0 1

**The other residuals (added 2026-12-04, written before any run of them).** Every screen so far used subspace
routing (eq. 4), whose coefficients stay near uniform. Channel attention (eq. 3) and the combination (eq. 5) scale
``W0``'s output channels per image, a different kind of per-image kernel that the paper's Table 1 rates about as
high. ``--variants`` screens them at 03_drt's width with the same recipe and the same premise gap (variant minus
static, mean over the five targets, per seed). Rule: if a variant's gap is at least 1.0 point on every seed, 03_drt's
DRT rows move to the variant with the largest smallest-seed gap (03a keeps its Table 1 of all variants) and the
notebooks are re-run; otherwise routing stays and the result is recorded.

    python studies/drt_capacity.py --widths 16-32-48 --variants attention combined --seeds 0 1

**The reference code's 1 x 1 residuals (added 2026-12-04, written before any run of them).** The authors' code
routes over K 1 x 1 residual convolutions added to the static kernel's output instead of K full-size kernels
(``residual="1x1"``). ``--residual 1x1`` screens routing in that form, same recipe, same premise gap. Rule: if its
gap is at least 1.0 point on every seed, 03_drt's DRT rows move to the 1 x 1 residuals and the notebooks are re-run;
otherwise the paper's full-size kernels stay and the result is recorded.

    python studies/drt_capacity.py --widths 16-32-48 --variants routing --residual 1x1 --seeds 0 1
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np

os.environ.setdefault("UDA_NB_QUIET", "1")

from uda_nb.experiments import run  # noqa: E402
from uda_nb.papers import drt as D  # noqa: E402

REFERENCE = (16, 32, 48)


def parse_width(text: str) -> tuple[int, int, int]:
    parts = tuple(int(p) for p in text.split("-"))
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"a width is three stage widths like 8-16-24, got {text!r}")
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", nargs="+", type=parse_width, default=[REFERENCE, (8, 16, 24), (4, 8, 12)])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--targets", nargs="+", default=list(D.DOMAINS), choices=list(D.DOMAINS))
    parser.add_argument("--variants", nargs="+", default=["routing"], choices=["routing", "attention", "combined"],
                        help="the dynamic residuals compared with the static network (default: routing)")
    parser.add_argument("--residual", default="full", choices=["full", "1x1"],
                        help="the routing kernels' shape: the paper's full-size ones or the reference code's 1 x 1")
    args = parser.parse_args()
    args.variants = list(dict.fromkeys(args.variants))  # each once
    if args.residual != "full" and not {"routing", "combined"} & set(args.variants):
        parser.error("--residual shapes the routing kernels: screen --variants routing or combined with it.")
    if (set(args.variants) != {"routing"} or args.residual != "full") and args.widths != [REFERENCE]:
        parser.error("the variant and residual rules are written for 03_drt's width: pass --widths 16-32-48.")
    suffix = f", {args.residual} residuals" if args.residual != "full" else ""

    def name(dynamic: str) -> str:
        return dynamic + (suffix if dynamic in ("routing", "combined") else "")
    report = D.sizes_for("report")

    acc: dict[tuple, float] = {}
    secs: dict[tuple, list[float]] = {}
    for widths in args.widths:
        sizes = dataclasses.replace(report, widths=widths, residual=args.residual)
        for target in args.targets:
            for dynamic in ("static", *args.variants):
                spec = D.spec("source_only", target, sizes, dynamic=dynamic)
                for seed in args.seeds:
                    t = time.perf_counter()
                    res = run(spec, seed, progress=False)  # cached: a narrower network adopted later reuses it
                    acc[widths, dynamic, target, seed] = 100 * res.final["source_acc"]
                    secs.setdefault((widths, dynamic), []).append(res.seconds)
                    print(f"{'-'.join(map(str, widths))} {dynamic} → {target} seed {seed}: "
                          f"{acc[widths, dynamic, target, seed]:.1f} % ({time.perf_counter() - t:.0f} s)", flush=True)

    def mean(widths, dynamic, seed):
        return float(np.mean([acc[widths, dynamic, t, seed] for t in args.targets]))

    print("\n| widths | network | " + " | ".join(f"→ {t}" for t in args.targets)
          + " | mean per seed | seconds per run |")
    print("|---|---|" + "---:|" * len(args.targets) + "---:|---:|")
    for widths in args.widths:
        for dynamic in ("static", *args.variants):
            cells = [" / ".join(f"{acc[widths, dynamic, t, s]:.1f}" for s in args.seeds) for t in args.targets]
            print(f"| {'-'.join(map(str, widths))} | {name(dynamic)} | " + " | ".join(cells) + " | "
                  + " / ".join(f"{mean(widths, dynamic, s):.2f}" for s in args.seeds)
                  + f" | {np.mean(secs[widths, dynamic]):.0f} |")
    adopted = None
    for widths in args.widths:
        for variant in args.variants:
            gaps = [mean(widths, variant, s) - mean(widths, "static", s) for s in args.seeds]
            holds = all(g >= 1.0 for g in gaps)
            reference = widths == REFERENCE and variant == "routing" and args.residual == "full"
            label = "reference" if reference else ("holds" if holds else "fails")
            print(f"premise gap of {name(variant)} at {'-'.join(map(str, widths))}: "
                  + " / ".join(f"{g:+.2f}" for g in gaps) + f" points ({label})")
            if label == "holds":
                adopted = max(adopted or (widths, variant, min(gaps)), (widths, variant, min(gaps)),
                              key=lambda a: (sum(a[0]), a[2]))
    if args.residual != "full":
        print("rule: " + (f"03_drt's DRT rows move to {name(adopted[1])}" if adopted
                          else "keep the full-size residual kernels (the premise does not hold with 1 x 1 ones)"))
    elif args.variants == ["routing"]:
        narrower = [w for w in args.widths if w != REFERENCE]
        print("rule: " + (f"move 03_drt and 03a to {'-'.join(map(str, adopted[0]))}" if adopted
                          else "keep 16-32-48 (" + ("the premise holds at no narrower width)" if narrower
                                                    else "no narrower width screened)")))
    else:
        print("rule: " + (f"03_drt's DRT rows move to {adopted[1]} at {'-'.join(map(str, adopted[0]))}" if adopted
                          else "keep routing at 16-32-48 (the premise holds for no variant screened)"))


if __name__ == "__main__":
    main()
