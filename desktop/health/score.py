"""The financial health score: four components, weighted, 0–100, in three bands.

Every component scores 0 (worst) to 100 (healthy); the weights and limits come from
:class:`~desktop.health.settings.HealthSettings` (defaults in brackets):

* **overdue** — invoices not fully paid whose due date has passed. None: 100. Otherwise
  ``100 − 100 × min(d / D, 1) − p × (n − 1)``, floored at 0, where ``d`` is how many days
  the oldest one is overdue, ``D`` the days overdue that score 0 [90], ``n`` how many are
  overdue and ``p`` the penalty per extra invoice [10].
* **amount due** — what is due (open, overdue and partially paid invoices) against MRR.
  Nothing due: 100. Something due and no MRR: 0. Otherwise with ``r = due ÷ MRR``:
  ``100`` while ``r ≤ ok`` [1 month], falling linearly to 0 at ``r = zero`` [3 months].
* **subscription state** — the worst state among the account's current subscriptions
  (not cancelled, expired or future), by the points of each state [active 100, trial 80,
  trial ending within 14 days with no payment method 50, non-renewing 40, unpaid 30,
  paused 30]; with no current subscription: ``cancelled`` [0] if it had one, else
  ``none`` [100].
* **MRR trend** — MRR now against MRR ``k`` months ago [3]. Both 0, or unchanged: the flat
  points [70]; none then and some now: 100; otherwise with change ``c = now ÷ then − 1``:
  growth rises linearly from the flat points to 100 at ``+g`` [+20 %], a drop falls
  linearly to 0 at ``−z`` [−50 %].

score = round(Σ weightᵢ × componentᵢ ÷ Σ weightᵢ), default weights overdue 35, amount due
25, state 25, trend 15. Band: green from 70, amber from 40, red below.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from desktop.health.settings import ACCOUNT_STATES, HealthSettings

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

BANDS: tuple[str, ...] = ("green", "amber", "red")

_SUBSCRIPTION_STATE = {
    "active": "active",
    "non_renewing": "non_renewing",
    "unpaid": "unpaid",
    "paused": "paused",
}


@dataclass(frozen=True)
class ScoreInputs:
    """Per-account inputs to the score (arrays of equal length, money in one currency).

    Attributes:
        overdue_invoices: how many invoices are overdue.
        days_overdue: days the oldest overdue invoice is overdue (0 when none).
        amount_due: what is due, minor units.
        mrr: MRR now, minor units.
        mrr_then: MRR ``trend_months`` ago, minor units.
        state: each account's subscription state (see :data:`ACCOUNT_STATES`).
    """

    overdue_invoices: IntArray
    days_overdue: IntArray
    amount_due: IntArray
    mrr: IntArray
    mrr_then: IntArray
    state: npt.NDArray[np.object_]


@dataclass(frozen=True)
class ScoreResult:
    """Scores and their components (0–100 integers) and bands, per account."""

    score: IntArray
    band: npt.NDArray[np.object_]
    overdue_points: IntArray
    amount_due_points: IntArray
    state_points: IntArray
    trend_points: IntArray


def overdue_points(count: IntArray, days: IntArray, settings: HealthSettings) -> FloatArray:
    """The overdue component (see the module docstring)."""
    ratio = np.minimum(days / settings.overdue_days_for_zero, 1.0)
    points = 100.0 - 100.0 * ratio - settings.overdue_invoice_penalty * np.maximum(count - 1, 0)
    result: FloatArray = np.where(count > 0, np.clip(points, 0.0, 100.0), 100.0)
    return result


def amount_due_points(due: IntArray, mrr: IntArray, settings: HealthSettings) -> FloatArray:
    """The amount-due component (see the module docstring)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(mrr > 0, due / np.where(mrr > 0, mrr, 1), np.inf)
    span = settings.due_months_for_zero - settings.due_months_ok
    fall = np.clip((ratio - settings.due_months_ok) / span, 0.0, 1.0)
    result: FloatArray = np.where(due > 0, 100.0 * (1.0 - fall), 100.0)
    return result


def trend_points(now: IntArray, then: IntArray, settings: HealthSettings) -> FloatArray:
    """The MRR-trend component (see the module docstring)."""
    flat = float(settings.trend_flat_points)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.where(then > 0, now / np.where(then > 0, then, 1) - 1.0, 0.0)
    up = flat + (100.0 - flat) * np.minimum(change / settings.trend_growth_for_full, 1.0)
    down = flat * (1.0 + np.maximum(change / settings.trend_drop_for_zero, -1.0))
    points = np.where(change >= 0, up, down)
    points = np.where((then <= 0) & (now > 0), 100.0, points)
    result: FloatArray = np.where((then <= 0) & (now <= 0), flat, points)
    return result


def state_points(state: npt.NDArray[np.object_], settings: HealthSettings) -> FloatArray:
    """The subscription-state component: each state's points."""
    table = {name: float(settings.state_points[name]) for name in ACCOUNT_STATES}
    return np.array([table.get(str(s), table["none"]) for s in state], dtype=float)


def band_of(score: IntArray, settings: HealthSettings) -> npt.NDArray[np.object_]:
    """green / amber / red for each score."""
    band: npt.NDArray[np.object_] = np.where(
        score >= settings.green_from,
        "green",
        np.where(score >= settings.amber_from, "amber", "red"),
    ).astype(object)
    return band


def compute_scores(inputs: ScoreInputs, settings: HealthSettings) -> ScoreResult:
    """Scores every account at once (vectorised; no loop per account)."""
    w = settings.weights
    parts = (
        (w.overdue, overdue_points(inputs.overdue_invoices, inputs.days_overdue, settings)),
        (w.amount_due, amount_due_points(inputs.amount_due, inputs.mrr, settings)),
        (w.subscription_state, state_points(inputs.state, settings)),
        (w.mrr_trend, trend_points(inputs.mrr, inputs.mrr_then, settings)),
    )
    total = sum(weight * points for weight, points in parts) / w.total
    score = np.rint(np.clip(total, 0.0, 100.0)).astype(np.int64)
    rounded = [np.rint(points).astype(np.int64) for _, points in parts]
    return ScoreResult(
        score=score,
        band=band_of(score, settings),
        overdue_points=rounded[0],
        amount_due_points=rounded[1],
        state_points=rounded[2],
        trend_points=rounded[3],
    )


def account_states(
    size: int,
    account: IntArray,
    status: npt.NDArray[np.object_],
    trial_end: FloatArray,
    has_payment_method: npt.NDArray[np.bool_],
    now_epoch: float,
    settings: HealthSettings,
) -> npt.NDArray[np.object_]:
    """Each account's subscription state (index = account id), from its subscriptions.

    The state is the lowest-scoring one among current subscriptions (ties go to the
    worse-sounding state); with none current, ``cancelled`` if a subscription ended, else
    ``none``.
    """
    names = list(ACCOUNT_STATES)
    points = np.array([settings.state_points[name] for name in names], dtype=np.int64)
    index = np.full(status.shape, -1, dtype=np.int64)
    for raw, name in _SUBSCRIPTION_STATE.items():
        index[status == raw] = names.index(name)
    trial = status == "trial"
    warning = now_epoch + settings.trial_warning_days * 86400.0
    ending = trial & ~has_payment_method & ~np.isnan(trial_end) & (trial_end <= warning)
    index[trial] = names.index("trial")
    index[ending] = names.index("trial_ending")
    current = index >= 0
    key = points[np.maximum(index, 0)] * 100 + (99 - index)
    best = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(best, account[current], key[current])
    ended = np.zeros(size, dtype=bool)
    ended[account[np.isin(status, ("cancelled", "expired"))]] = True
    found = best != np.iinfo(np.int64).max
    state_index = np.where(found, 99 - best % 100, -1)
    labels = np.array([*names, "none"], dtype=object)
    state: npt.NDArray[np.object_] = labels[np.where(found, state_index, len(names))]
    state[~found & ended] = "cancelled"
    return state
