"""Inter-annotator agreement on feedback: pure metrics, tested against hand-worked numbers.

For chains reviewed by several annotators: Krippendorff's alpha (nominal, all annotators) and
Cohen's kappa (per pair) for each error type and for "has an error"; Jaccard agreement on
error steps; token F1 between corrections.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass, field

from feedback_data.schema import ERROR_CODES, FeedbackItem

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


def jaccard(a: Iterable[int], b: Iterable[int]) -> float:
    """Set agreement; two empty sets agree fully."""
    sa, sb = set(a), set(b)
    return 1.0 if not sa | sb else len(sa & sb) / len(sa | sb)


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
    steps_jaccard: float
    correction_f1: float


@dataclass
class AgreementReport:
    n_chains: int
    annotators: list[str]
    alpha: dict[str, float | None]
    steps_jaccard: float | None
    correction_f1: float | None
    pairs: list[PairAgreement] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def agreement(items: Iterable[FeedbackItem]) -> AgreementReport:
    """Agreement over every chain that two or more annotators reviewed."""
    groups = group_by_chain(items)
    annotators = sorted({a for g in groups.values() for a in g})
    alpha = {label: krippendorff_alpha([[labels_of(i)[label] for i in g.values()]
                                        for g in groups.values()]) for label in LABELS}
    pairs: list[PairAgreement] = []
    all_steps: list[float] = []
    all_f1: list[float] = []
    for a, b in itertools.combinations(annotators, 2):
        shared = [g for g in groups.values() if a in g and b in g]
        if not shared:
            continue
        la = [labels_of(g[a]) for g in shared]
        lb = [labels_of(g[b]) for g in shared]
        steps = [jaccard(g[a].feedback.error_steps, g[b].feedback.error_steps) for g in shared]
        f1 = [token_f1(g[a].feedback.correction.text, g[b].feedback.correction.text)
              for g in shared]
        all_steps += steps
        all_f1 += f1
        pairs.append(PairAgreement(
            annotators=(a, b), n_chains=len(shared),
            kappa={lab: cohen_kappa([x[lab] for x in la], [y[lab] for y in lb])
                   for lab in LABELS},
            steps_jaccard=sum(steps) / len(steps), correction_f1=sum(f1) / len(f1)))
    return AgreementReport(n_chains=len(groups), annotators=annotators, alpha=alpha,
                           steps_jaccard=_mean(all_steps), correction_f1=_mean(all_f1),
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
    lines.append(f"error steps (Jaccard, mean over pairs): {_fmt(report.steps_jaccard)}")
    lines.append(f"corrections (token F1, mean over pairs): {_fmt(report.correction_f1)}")
    for p in report.pairs:
        lines.append(f"  {p.annotators[0]} / {p.annotators[1]}: {p.n_chains} chains, steps "
                     f"{_fmt(p.steps_jaccard)}, corrections {_fmt(p.correction_f1)}")
    return "\n".join(lines)
