"""Inter-annotator agreement on feedback: pure metrics, tested against hand-worked numbers.

For chains reviewed by several annotators: Krippendorff's alpha (nominal, all annotators) and
Cohen's kappa (per pair) for each error type and for "has an error"; Jaccard agreement on
error steps; token F1 between corrections; agreement on step ratings and on the first wrong
step where both annotators rated the steps.

The overall step and correction figures are means over comparisons, one per (annotator pair,
chain); per pair, over that pair's shared chains. Two empty step sets say nothing about where
an error is: such comparisons are counted apart (``steps_both_empty``), not scored as 1.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass, field

from feedback_data.records.schema import ERROR_CODES, FeedbackItem

HAS_ERROR = "has_error"
LABELS: tuple[str, ...] = (*ERROR_CODES, HAS_ERROR)
_TOKEN = re.compile(r"\w+")


def krippendorff_alpha(units: Iterable[Sequence[Hashable]]) -> float | None:
    """Nominal alpha over units (each the values its coders gave; missing ones left out).

    Units with fewer than two values are not pairable and are ignored. None when the data
    has no variation (alpha is undefined there).
    """
    coincidence: Counter[tuple[Hashable, Hashable]] = Counter()
    for values in units:
        m = len(values)
        if m < 2:
            continue
        for i, j in itertools.permutations(range(m), 2):
            coincidence[values[i], values[j]] += 1.0 / (m - 1)
    totals: Counter[Hashable] = Counter()
    for (c, _k), w in coincidence.items():
        totals[c] += w
    n = sum(totals.values())
    if n <= 1:
        return None
    observed = sum(w for (c, k), w in coincidence.items() if c != k)
    expected = sum(totals[c] * totals[k] for c in totals for k in totals if c != k)
    if expected == 0:
        return None
    return 1.0 - (n - 1) * observed / expected


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two aligned label lists; None when chance agreement is 1."""
    if len(a) != len(b):
        raise ValueError("label lists differ in length")
    if not a:
        return None
    n = len(a)
    po = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[k] * cb[k] for k in ca) / (n * n)
    if pe == 1:
        return None
    return (po - pe) / (1 - pe)


def jaccard(a: Iterable[int], b: Iterable[int]) -> float | None:
    """Set agreement; None for two empty sets (undefined: nothing to agree on)."""
    sa, sb = set(a), set(b)
    return None if not sa | sb else len(sa & sb) / len(sa | sb)


def token_f1(a: str, b: str) -> float:
    """Bag-of-tokens F1 (lower-cased words), as in SQuAD; two empty texts score 1."""
    ta, tb = _TOKEN.findall(a.lower()), _TOKEN.findall(b.lower())
    if not ta and not tb:
        return 1.0
    common = sum((Counter(ta) & Counter(tb)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(ta), common / len(tb)
    return 2 * precision * recall / (precision + recall)


def labels_of(item: FeedbackItem) -> dict[str, bool]:
    types = set(item.feedback.error_types)
    return {**{c: c in types for c in ERROR_CODES}, HAS_ERROR: bool(types)}


def group_by_chain(items: Iterable[FeedbackItem]) -> dict[str, dict[str, FeedbackItem]]:
    """chain id -> annotator -> their latest feedback, for chains with two or more annotators."""
    groups: dict[str, dict[str, FeedbackItem]] = defaultdict(dict)
    for item in sorted(items, key=lambda i: i.feedback.time or ""):
        groups[item.chain.id][item.feedback.annotator] = item
    return {cid: g for cid, g in groups.items() if len(g) >= 2}


@dataclass
class PairAgreement:
    annotators: tuple[str, str]
    n_chains: int
    kappa: dict[str, float | None]
    steps_jaccard: float | None  # mean over shared chains where either marked a step
    steps_both_empty: int  # shared chains where neither marked a step (not scored)
    correction_f1: float | None  # mean over shared chains
    step_rating_agreement: float | None = None  # share of steps rated alike (both rated)
    first_wrong_step_agreement: float | None = None  # share of chains with the same one


@dataclass
class AgreementReport:
    n_chains: int
    annotators: list[str]
    alpha: dict[str, float | None]
    steps_jaccard: float | None  # mean over (pair, chain) comparisons with a step marked
    steps_comparisons: int
    steps_both_empty: int
    correction_f1: float | None  # mean over (pair, chain) comparisons
    correction_comparisons: int
    step_rating_agreement: float | None = None  # over steps rated by both, all pairs
    first_wrong_step_agreement: float | None = None  # over (pair, chain) with both rated
    pairs: list[PairAgreement] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _ratings_compared(a: FeedbackItem, b: FeedbackItem) -> tuple[int, int, bool] | None:
    """(steps alike, steps compared, same first wrong step), or None unless both rated."""
    ra, rb = a.feedback.step_ratings, b.feedback.step_ratings
    if ra is None or rb is None or len(ra) != len(rb):
        return None
    alike = sum(x == y for x, y in zip(ra, rb, strict=True))
    return alike, len(ra), a.feedback.first_wrong_step == b.feedback.first_wrong_step


def agreement(items: Iterable[FeedbackItem]) -> AgreementReport:
    """Agreement over every chain that two or more annotators reviewed."""
    groups = group_by_chain(items)
    annotators = sorted({a for g in groups.values() for a in g})
    alpha = {label: krippendorff_alpha([[labels_of(i)[label] for i in g.values()]
                                        for g in groups.values()]) for label in LABELS}
    pairs: list[PairAgreement] = []
    all_steps: list[float] = []
    all_f1: list[float] = []
    both_empty = 0
    rated_alike = rated_steps = 0
    first_same: list[bool] = []
    for a, b in itertools.combinations(annotators, 2):
        shared = [g for g in groups.values() if a in g and b in g]
        if not shared:
            continue
        la = [labels_of(g[a]) for g in shared]
        lb = [labels_of(g[b]) for g in shared]
        scored = [jaccard(g[a].feedback.error_steps, g[b].feedback.error_steps) for g in shared]
        steps = [x for x in scored if x is not None]
        f1 = [token_f1(g[a].feedback.correction.text, g[b].feedback.correction.text)
              for g in shared]
        compared = [c for c in (_ratings_compared(g[a], g[b]) for g in shared) if c is not None]
        all_steps += steps
        all_f1 += f1
        both_empty += len(scored) - len(steps)
        rated_alike += sum(c[0] for c in compared)
        rated_steps += sum(c[1] for c in compared)
        first_same += [c[2] for c in compared]
        pair_steps = sum(c[1] for c in compared)
        pairs.append(PairAgreement(
            annotators=(a, b), n_chains=len(shared),
            kappa={lab: cohen_kappa([x[lab] for x in la], [y[lab] for y in lb])
                   for lab in LABELS},
            steps_jaccard=_mean(steps), steps_both_empty=len(scored) - len(steps),
            correction_f1=_mean(f1),
            step_rating_agreement=sum(c[0] for c in compared) / pair_steps if pair_steps
            else None,
            first_wrong_step_agreement=_mean([float(c[2]) for c in compared])))
    return AgreementReport(n_chains=len(groups), annotators=annotators, alpha=alpha,
                           steps_jaccard=_mean(all_steps), steps_comparisons=len(all_steps),
                           steps_both_empty=both_empty, correction_f1=_mean(all_f1),
                           correction_comparisons=len(all_f1),
                           step_rating_agreement=rated_alike / rated_steps if rated_steps
                           else None,
                           first_wrong_step_agreement=_mean([float(x) for x in first_same]),
                           pairs=pairs)


def _fmt(x: float | None) -> str:
    return "  n/a" if x is None else f"{x:5.2f}"


def format_report(report: AgreementReport) -> str:
    """A plain-text table: overall alpha, then kappa per pair."""
    if report.n_chains == 0:
        return "no chain has two or more annotators: nothing to compare"
    head = "".join(f"{lab:>10}" for lab in LABELS)
    lines = [f"{report.n_chains} chains, {len(report.annotators)} annotators",
             f"{'':40}{head}",
             f"{'alpha (all)':40}" + "".join(f"{_fmt(report.alpha[lab]):>10}" for lab in LABELS)]
    for p in report.pairs:
        name = f"kappa {p.annotators[0]} / {p.annotators[1]}"[:39]
        lines.append(f"{name:40}" + "".join(f"{_fmt(p.kappa[lab]):>10}" for lab in LABELS))
    lines.append(f"error steps (Jaccard, mean over {report.steps_comparisons} pair x chain "
                 f"comparisons with a step marked; {report.steps_both_empty} with none marked "
                 f"by either, not scored): {_fmt(report.steps_jaccard)}")
    lines.append(f"corrections (token F1, mean over {report.correction_comparisons} pair x "
                 f"chain comparisons): {_fmt(report.correction_f1)}")
    lines.append(f"step ratings (share of steps rated alike, where both rated): "
                 f"{_fmt(report.step_rating_agreement)}; same first wrong step: "
                 f"{_fmt(report.first_wrong_step_agreement)}")
    for p in report.pairs:
        lines.append(f"  {p.annotators[0]} / {p.annotators[1]}: {p.n_chains} chains, steps "
                     f"{_fmt(p.steps_jaccard)} ({p.steps_both_empty} both empty), corrections "
                     f"{_fmt(p.correction_f1)}, step ratings {_fmt(p.step_rating_agreement)}")
    return "\n".join(lines)
