"""The paper's learning-rate schedule for the adaptation stage (DD and RegDA), screened on label-free signals.

RegDA's section 5.1 anneals SGD as ``eta_i = eta_0 (1 + alpha i)^-beta``, ``i`` the training step, ``alpha = 1e-4``,
``beta = 0.75``, over 20,000 steps, and its reference code does the same on hands over 30 epochs of 500 steps. Our
adaptation stage has used DANN's ``(1 + 10 p)^-0.75`` since the first recipe: a default taken from DANN, never
chosen by a screen, which ends at a sixth of the base rate where the paper's ends at about a half
(``schedules.regda_sgd_lr_factor``: the paper's curve over its whole run, compressed onto ours by progress, so the
paper budget follows it step by step). Why now: reading the paper and the reference code for anything our recipe
still lacks, and having seen in the logged history of 02_regda's hands RegDA runs that the target PCK was still
creeping up at step 500 (a logged number, so this screen decides on other signals only).

The paper's schedule is the paper's recipe; the DANN decay is the deviation. So the burden of proof lies on keeping
the deviation. **The rule, written before any run with the paper's schedule:** per family (dSprites = the three
report tasks, hands = render -> photo; DD and RegDA of a family take the same schedule), adopt the paper's schedule
(``regda-sgd-20k`` on dSprites, ``regda-sgd-15k`` on hands) unless one of these label-free signals gets worse:

(a) RegDA's final source test metric: on hands the seed-mean source PCK may not drop by more than 1 point; on
    dSprites the source MAE averaged over the three tasks and the seeds may not rise by more than 0.005;
(b) the two seeds' RegDA predictions on 1,000 unlabeled target training images
    (:func:`uda_nb.metrics.prediction_agreement`): on hands their agreement may not drop by more than 1 PCK point;
    on dSprites their mean disagreement, averaged over the three tasks, may not rise by more than 0.01;
(c) DD's stability, the run-away measure of the DD screens: on dSprites the worst source test MAE logged during
    adaptation, averaged over the three tasks and the seeds, may not rise by more than 0.01; on hands DD's final
    source test PCK, seed-mean, may not drop by more than 1 point.

Only source test splits and unlabeled target training images decide; the target metrics are printed for the
record, after the decision.

    python studies/regda_adapt_schedule.py --seeds 0 1
"""

from __future__ import annotations

import os
import time

import numpy as np

os.environ.setdefault("UDA_NB_QUIET", "1")

from regda_keep_f import TASKS, agreement  # noqa: E402  (studies/ is this script's import path)
from regda_pins import appearance_only, default_heads  # noqa: E402
from regda_warm_start import parse_args  # noqa: E402

from uda_nb.data import load_domain  # noqa: E402
from uda_nb.experiments import run  # noqa: E402
from uda_nb.papers import regda as R  # noqa: E402

#: the recipe when this screen ran: one target pass per iteration (two since studies/regda_target_passes.py),
#: pinned so that the command reproduces its table
ONE_PASS = {"target_passes": 1}

SIZES = R.sizes_for("report")
#: the schedules compared, per family: the present one first, then the paper's
SCHEDULES = {"dsprites": ("dann", "regda-sgd-20k"), "hands": ("dann", "regda-sgd-15k")}
#: tolerances of (a), (b), (c) in reporting units (PCK points on hands, MAE on dSprites)
TOLERANCE = {"hands": {"a": 1.0, "b": 1.0, "c": 1.0}, "dsprites": {"a": 0.005, "b": 0.01, "c": 0.01}}


def fmt(values, digits: int) -> str:
    return " / ".join(f"{v:.{digits}f}" for v in values)


def adaptation_signals(rd, dd, images, unlabeled, hands: bool) -> dict[str, np.ndarray | float]:
    """The label-free signals of one task's RegDA and DD runs (one per seed), in reporting units (PCK points on
    hands, MAE on dSprites): RegDA's final source metric ``src`` and its seeds' ``agree``-ment on unlabeled target
    images; DD's stability signal ``dd`` (the final source PCK on hands, the worst logged source MAE on dSprites),
    its worst logged and final source metric; training ``seconds`` per seed (DD + RegDA); and, for the record only,
    both methods' target metrics ``tgt_rd`` / ``tgt_dd``."""
    metric, scale = ("pck", 100) if hands else ("mae", 1)
    final = lambda runs, split: np.array([r.final[f"{split}_{metric}"] for r in runs]) * scale  # noqa: E731
    dd_logged = [r.history[f"source_{metric}"].to_numpy() * scale for r in dd]
    return {"src": final(rd, "source"), "agree": agreement(rd, images, unlabeled, metric) * scale,
            "dd": final(dd, "source") if hands else np.array([h.max() for h in dd_logged]),
            "dd_worst": np.array([h.min() if hands else h.max() for h in dd_logged]), "dd_end": final(dd, "source"),
            "seconds": np.array([a.seconds + b.seconds for a, b in zip(rd, dd)]),
            "tgt_rd": final(rd, "target"), "tgt_dd": final(dd, "target")}


def train_arm(source: str, target: str, seeds, **spec_kwargs) -> tuple[list, list]:
    """RegDA's and DD's runs of one screen arm on ``source -> target``, one per seed (from or into the run cache);
    ``spec_kwargs`` go to :func:`uda_nb.papers.regda.adapt_spec` (the arm's options, schedule, pinned fields)."""
    return tuple([run(R.adapt_spec(method, source, target, SIZES, **spec_kwargs), s, progress=False) for s in seeds]
                 for method in ("regda", "dd"))


def label_free_checks(present: dict, candidate: dict, tol: dict, hands: bool) -> tuple[dict, dict]:
    """Rules (a)-(c) of the adaptation screens on the pooled signals of two arms (``src``, ``agree``, ``dd`` lists):
    ``ok[k]`` says whether the candidate is not worse than the present recipe by more than ``tol[k]`` (on hands
    higher is better for every signal; on dSprites MAE and disagreement, lower is). Returns ``(ok, means)``, the
    means as ``{signal: (present, candidate)}``."""
    m = {k: (float(np.mean(present[k])), float(np.mean(candidate[k]))) for k in ("src", "agree", "dd")}
    sign = 1.0 if hands else -1.0
    ok = {rule: sign * (m[k][1] - m[k][0]) >= -tol[rule] for rule, k in (("a", "src"), ("b", "agree"), ("c", "dd"))}
    return ok, m


def screen_option_arms(arms, column: str, verdicts: tuple[str, str], tolerance: dict, args, spec_kwargs) -> None:
    """A two-arm screen of the adaptation recipe under rules (a)-(d) of the target-pass screen: for every task of
    ``TASKS`` and each arm (the present recipe first, then the candidate), RegDA's and DD's runs for ``args.seeds``
    with ``spec_kwargs(arm, source)`` as :func:`train_arm`'s keyword arguments; prints one table row per task and
    arm (``column`` heads the arm's column), then per family ``verdicts[1]`` if every rule holds within
    ``tolerance[family]`` (rule (d): the candidate's runs may take at most ``tolerance[family]["d"]`` seconds longer
    in all, as the runs' own ``seconds`` say), else ``verdicts[0]``."""
    signals: dict[str, dict[object, dict[str, list]]] = {}
    print(f"| task | {column} | RegDA source metric, per seed | RegDA seed agreement on target | DD worst ; final "
          "source metric, per seed | seconds, DD + RegDA, per seed | RegDA target, per seed (record) | "
          "DD target, per seed (record) |")
    print("|---|---:|---|---:|---|---|---|---|")
    for name, (source, target) in TASKS.items():
        family = R.family_of(source)
        hands = family == "hands"
        digits = 1 if hands else 3
        unlabeled = load_domain(target, "train").unlabeled()
        images = unlabeled.images[:args.images]
        for arm in arms:
            rd, dd = train_arm(source, target, args.seeds, **spec_kwargs(arm, source))
            sig = adaptation_signals(rd, dd, images, unlabeled, hands)
            entry = signals.setdefault(family, {}).setdefault(arm, {"src": [], "agree": [], "dd": [], "sec": []})
            entry["src"].extend(sig["src"])
            entry["agree"].append(sig["agree"])
            entry["dd"].extend(sig["dd"])
            entry["sec"].extend(sig["seconds"])
            print(f"| {name} | {arm} | {fmt(sig['src'], digits)} | {sig['agree']:.{digits}f} | "
                  f"{fmt(sig['dd_worst'], digits)} ; {fmt(sig['dd_end'], digits)} | {fmt(sig['seconds'], 0)} | "
                  f"{fmt(sig['tgt_rd'], digits)} | {fmt(sig['tgt_dd'], digits)} |", flush=True)

    print()
    for family, per in signals.items():
        present, candidate = (per[a] for a in arms)
        tol = tolerance[family]
        ok, m = label_free_checks(present, candidate, tol, family == "hands")
        added = float(np.sum(candidate["sec"]) - np.sum(present["sec"]))
        ok["d"] = added <= tol["d"]
        detail = ", ".join(f"({k}) {'yes' if ok[k] else 'no'}: {m[s][0]:.3f} -> {m[s][1]:.3f}"
                           for k, s in (("a", "src"), ("b", "agree"), ("c", "dd")))
        detail += f", (d) {'yes' if ok['d'] else 'no'}: {added:+.0f} s"
        print(f"{family}: {verdicts[1] if all(ok.values()) else verdicts[0]} ({detail})")


def main() -> None:
    args = parse_args()

    # signals[family][schedule] = {"src": [...], "agree": [...], "dd": [...]} over tasks (and seeds)
    signals: dict[str, dict[str, dict[str, list]]] = {}
    print("| task | schedule | RegDA source metric, per seed | RegDA seed agreement on target | DD worst / final "
          "source metric, per seed | RegDA target, per seed (record) | DD target, per seed (record) | seconds |")
    print("|---|---|---|---:|---|---|---|---:|")
    for name, (source, target) in TASKS.items():
        family = R.family_of(source)
        hands = family == "hands"
        digits = 1 if hands else 3
        unlabeled = load_domain(target, "train").unlabeled()
        images = unlabeled.images[:args.images]
        for schedule in SCHEDULES[family]:
            t = time.perf_counter()
            rd, dd = train_arm(source, target, args.seeds, schedule=schedule,
                               options=default_heads(source, ONE_PASS),
                               **appearance_only(source))
            sig = adaptation_signals(rd, dd, images, unlabeled, hands)
            entry = signals.setdefault(family, {}).setdefault(schedule, {"src": [], "agree": [], "dd": []})
            entry["src"].extend(sig["src"])
            entry["agree"].append(sig["agree"])
            entry["dd"].extend(sig["dd"])
            print(f"| {name} | {schedule} | {fmt(sig['src'], digits)} | {sig['agree']:.{digits}f} | "
                  f"{fmt(sig['dd_worst'], digits)} ; {fmt(sig['dd_end'], digits)} | {fmt(sig['tgt_rd'], digits)} | "
                  f"{fmt(sig['tgt_dd'], digits)} | {time.perf_counter() - t:.0f} |", flush=True)

    print()
    for family, per in signals.items():
        present, paper = (per[s] for s in SCHEDULES[family])
        tol = TOLERANCE[family]
        ok, m = label_free_checks(present, paper, tol, family == "hands")
        detail = ", ".join(f"({k}) {'yes' if v else 'no'}: {m[s][0]:.3f} -> {m[s][1]:.3f}"
                           for (k, v), s in zip(ok.items(), ("src", "agree", "dd")))
        verdict = f"adopt {SCHEDULES[family][1]}" if all(ok.values()) else "keep dann"
        print(f"{family}: {verdict} ({detail})")


if __name__ == "__main__":
    main()
