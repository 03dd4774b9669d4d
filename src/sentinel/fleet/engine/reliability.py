"""Beta-distributed reliability of a GPU or an SM, with evidence that fades over time."""

from __future__ import annotations

from sentinel.fleet.engine.policy import EnginePolicy

_SECONDS_PER_HOUR = 3600.0


class BetaReliability:
    """Beta(alpha, beta) belief that the next computation is correct.

    Passes add to ``alpha``; failures and attributed anomalies add to ``beta``. Evidence beyond
    the prior halves every ``half_life_hours``, so a GPU that failed once a month ago is judged
    mostly by what it did since, and one repaired part is not condemned forever.

    Attributes:
        alpha: Pseudo-count of correct results, prior included.
        beta: Pseudo-count of failures, prior included.
        updated_at: Epoch seconds up to which decay has been applied.
    """

    __slots__ = ("alpha", "beta", "updated_at")

    def __init__(self, alpha: float, beta: float, updated_at: float) -> None:
        if alpha <= 0 or beta <= 0:
            raise ValueError(f"alpha and beta must be > 0, got alpha={alpha}, beta={beta}")
        self.alpha = alpha
        self.beta = beta
        self.updated_at = updated_at

    @classmethod
    def prior(cls, policy: EnginePolicy, now: float) -> BetaReliability:
        """A GPU with no evidence yet: the policy's prior, as of ``now``."""
        return cls(policy.prior_alpha, policy.prior_beta, now)

    @property
    def score(self) -> float:
        """Mean of the Beta distribution, ``alpha / (alpha + beta)``, in (0, 1)."""
        return self.alpha / (self.alpha + self.beta)

    def decay(self, now: float, policy: EnginePolicy) -> None:
        """Fade evidence toward the prior by the time elapsed since ``updated_at``.

        A ``now`` earlier than ``updated_at`` (a late report) changes nothing, so decay is never
        undone and the clock never runs backwards.
        """
        elapsed = now - self.updated_at
        if elapsed <= 0:
            return
        keep = 0.5 ** (elapsed / (policy.half_life_hours * _SECONDS_PER_HOUR))
        self.alpha = policy.prior_alpha + (self.alpha - policy.prior_alpha) * keep
        self.beta = policy.prior_beta + (self.beta - policy.prior_beta) * keep
        self.updated_at = now

    def observe(self, passes: float, failures: float, now: float, policy: EnginePolicy) -> None:
        """Decay to ``now``, then add probe ``passes`` and ``failures``."""
        if passes < 0 or failures < 0:
            raise ValueError(f"counts must be >= 0, got passes={passes}, failures={failures}")
        self.decay(now, policy)
        self.alpha += passes
        self.beta += failures

    def add_anomaly(self, severity: int, now: float, policy: EnginePolicy) -> None:
        """Decay to ``now``, then count an attributed anomaly as a fraction of a failure.

        The fraction is ``anomaly_weight * severity_weights[severity]``: an anomaly is weaker
        evidence than a failed probe, because a model can drift for reasons other than hardware.
        """
        weight = policy.anomaly_weight * policy.severity_weight(severity)
        self.decay(now, policy)
        self.beta += weight

    def __repr__(self) -> str:
        return (
            f"BetaReliability(alpha={self.alpha!r}, beta={self.beta!r}, "
            f"updated_at={self.updated_at!r})"
        )
