#!/usr/bin/env python3
"""Reference values for src/experiments/stats (checked by tests/stats/golden.test.ts).

Every output comes from scipy / statsmodels / numpy where they have the function. Where they do
not (delta-method ratio and lift, confidence sequences, mSPRT, sequential SRM), the output comes
from an independent NumPy/SciPy implementation written here along a different computational path
than the TypeScript one (noted per section), so the two are not copies of each other.

Inputs are generated from a fixed seed and rounded to 6 decimals, so the JSON holds exactly the
numbers both sides compute from.

    .venv/bin/python tests/golden/make_stats_reference.py [--out PATH]

Writing the committed file (the default --out) also runs `biome format` on it, as CI lints it.

tests/golden/check_stats_reference.sh regenerates into a temporary file and compares numerically
with the committed tests/golden/stats-reference.json.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import scipy
import statsmodels
from scipy import optimize, special, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower, normal_power
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportions_ztest,
    test_proportions_2indep,
)

SEED = 20261125
DEFAULT_OUT = Path(__file__).with_name("stats-reference.json")
rng = np.random.default_rng(SEED)


def f(x) -> float:
    """A plain float for JSON (numpy scalars are not JSON-serialisable)."""
    return float(x)


def r6(a) -> list[float]:
    return [float(v) for v in np.round(np.asarray(a, dtype=float), 6)]


def case(name: str, input: dict, output: dict) -> dict:
    return {"name": name, "input": input, "output": output}


# --------------------------------------------------------------------------------------------
# Proportions
# --------------------------------------------------------------------------------------------


def wilson_cases() -> list[dict]:
    specs = [
        ("zero of ten", 0, 10, 0.05),
        ("one of ten", 1, 10, 0.05),
        ("half, n=10", 5, 10, 0.05),
        ("half, n=100", 50, 100, 0.05),
        ("near 0: 1 of 1000", 1, 1000, 0.05),
        ("near 1: 999 of 1000", 999, 1000, 0.05),
        ("all of one", 1, 1, 0.05),
        ("alpha 0.1", 7, 20, 0.1),
        ("alpha 0.01, large n", 3001, 6000, 0.01),
    ]
    out = []
    for name, s, n, alpha in specs:
        lo, hi = proportion_confint(s, n, alpha=alpha, method="wilson")
        out.append(case(name, {"successes": s, "n": n, "alpha": alpha}, {"lower": f(lo), "upper": f(hi)}))
    return out


def two_proportion_cases() -> list[dict]:
    specs = [
        ("near 0.5", (480, 1000), (520, 1000), 0.05),
        ("near 0", (2, 5000), (9, 5000), 0.05),
        ("identical", (100, 1000), (100, 1000), 0.05),
        ("small n", (3, 10), (7, 12), 0.05),
        ("90/10 allocation", (3600, 4500), (420, 500), 0.05),
        ("zero in control", (0, 200), (5, 200), 0.05),
        ("alpha 0.01", (8000, 10000), (8200, 10000), 0.01),
    ]
    out = []
    for name, (sc, nc), (st, nt), alpha in specs:
        # statsmodels also computes ratio and odds ratio here and warns on p = 0; not used.
        with np.errstate(divide="ignore", invalid="ignore"):
            ci_lo, ci_hi = confint_proportions_2indep(st, nt, sc, nc, method="wald", compare="diff", alpha=alpha)
        pc, pt = sc / nc, st / nt
        for test in ("pooled", "unpooled"):
            if test == "pooled":
                z, p = proportions_ztest([st, sc], [nt, nc])
            else:
                with np.errstate(divide="ignore", invalid="ignore"):
                    res = test_proportions_2indep(st, nt, sc, nc, method="wald", compare="diff")
                z, p = res.statistic, res.pvalue
                # Sanity: statsmodels' "wald" is the unpooled z-test of notes §5.3a.
                se = math.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt)
                assert abs(z - (pt - pc) / se) < 1e-9 * max(1, abs(z)), (name, z)
            out.append(
                case(
                    f"{name} ({test})",
                    {
                        "control": {"successes": sc, "n": nc},
                        "treatment": {"successes": st, "n": nt},
                        "alpha": alpha,
                        "test": test,
                    },
                    {"diff": f(pt - pc), "ci_lower": f(ci_lo), "ci_upper": f(ci_hi), "z": f(z), "p": f(p)},
                )
            )
    return out


# --------------------------------------------------------------------------------------------
# Welch
# --------------------------------------------------------------------------------------------


def welch_output(control: list[float], treatment: list[float], alpha: float) -> dict:
    res = stats.ttest_ind(treatment, control, equal_var=False)
    ci = res.confidence_interval(confidence_level=1 - alpha)
    return {
        "diff": f(np.mean(treatment) - np.mean(control)),
        "df": f(res.df),
        "t": f(res.statistic),
        "p": f(res.pvalue),
        "ci_lower": f(ci.low),
        "ci_upper": f(ci.high),
    }


def welch_cases() -> list[dict]:
    data = [
        ("tiny: n=2 vs n=3", [1.5, 2.25], [2.0, 3.5, 7.125], 0.05),
        ("unequal variances and n", r6(rng.normal(10, 1, 15)), r6(rng.normal(10.5, 5, 40)), 0.05),
        ("judge scores 1-5 (ties)", [float(v) for v in rng.integers(1, 6, 300)],
         [float(v) for v in rng.integers(1, 6, 280)], 0.05),
        ("0-1 scores, n=1000 vs 800", r6(rng.beta(5, 2, 1000)), r6(rng.beta(5.2, 2, 800)), 0.05),
        ("large effect, tiny p", r6(rng.normal(0, 1, 400)), r6(rng.normal(1.2, 1, 400)), 0.05),
        ("same distribution, alpha 0.1", r6(rng.normal(3, 2, 50)), r6(rng.normal(3, 2, 60)), 0.1),
        ("one arm near-constant", r6(1 + rng.normal(0, 1e-3, 30)), r6(rng.normal(1, 0.5, 30)), 0.05),
    ]
    return [
        case(name, {"control": c, "treatment": t, "alpha": alpha}, welch_output(c, t, alpha))
        for name, c, t, alpha in data
    ]


# --------------------------------------------------------------------------------------------
# Ratio metrics and lift (independent implementation: the linearised residual M − R·D)
# --------------------------------------------------------------------------------------------


def session_data(n: int, calls_mean: float, cost_per_call: float) -> tuple[list[float], list[float]]:
    """Per session: D calls (≥ 1), M = total cost, costs correlated within a session."""
    d = 1 + rng.poisson(calls_mean - 1, n)
    session_factor = rng.gamma(4.0, 0.25, n)  # shared by the session's calls
    m = np.array([np.sum(rng.gamma(2.0, cost_per_call * sf / 2.0, k)) for k, sf in zip(d, session_factor)])
    return r6(m), [float(v) for v in d]


def ratio_var(m: np.ndarray, d: np.ndarray) -> tuple[float, float]:
    """R = ΣM/ΣD; Var(R) = Var(M − R·D) / (n·mean(D)²), sample variance with ddof=1."""
    r = m.sum() / d.sum()
    return r, np.var(m - r * d, ddof=1) / (len(m) * d.mean() ** 2)


def z_outputs(est: float, se: float, alpha: float) -> dict:
    z = est / se
    q = stats.norm.ppf(1 - alpha / 2)
    return {"se": f(se), "ci_lower": f(est - q * se), "ci_upper": f(est + q * se), "z": f(z),
            "p": f(2 * stats.norm.sf(abs(z)))}


def ratio_cases() -> list[dict]:
    specs = [
        ("cost per call, n=200 each", (200, 4.0, 0.010), (200, 4.0, 0.008), 0.05),
        ("small n=5 vs 6", (5, 3.0, 0.02), (6, 3.0, 0.02), 0.05),
        ("calls differ by arm, n=600 vs 500", (600, 6.0, 0.005), (500, 3.0, 0.005), 0.05),
        ("alpha 0.01", (800, 2.0, 1.0), (700, 2.5, 1.1), 0.01),
    ]
    out = []
    for name, cspec, tspec, alpha in specs:
        cm, cd = session_data(*cspec)
        tm, td = session_data(*tspec)
        rc, vc = ratio_var(np.array(cm), np.array(cd))
        rt, vt = ratio_var(np.array(tm), np.array(td))
        o = {"ratio_control": f(rc), "var_control": f(vc), "ratio_treatment": f(rt), "var_treatment": f(vt),
             "diff": f(rt - rc)}
        o.update(z_outputs(rt - rc, math.sqrt(vc + vt), alpha))
        out.append(case(name, {"control": {"m": cm, "d": cd}, "treatment": {"m": tm, "d": td}, "alpha": alpha}, o))
    return out


def lift_from(mu_c: float, var_c: float, mu_t: float, var_t: float, alpha: float) -> dict:
    """GrowthBook details.mdx: Var = σ²_C·μ_T²/(μ_C⁴·n_C) + σ²_T/(μ_C²·n_T), here with σ²/n = var_*."""
    lift = (mu_t - mu_c) / mu_c
    var = var_c * mu_t**2 / mu_c**4 + var_t / mu_c**2
    return {"lift": f(lift), **z_outputs(lift, math.sqrt(var), alpha)}


def lift_mean_cases() -> list[dict]:
    data = [
        ("scores, +4%", r6(rng.normal(3.0, 1.0, 500)), r6(rng.normal(3.12, 1.1, 450)), 0.05),
        ("small n", r6(rng.normal(10, 2, 8)), r6(rng.normal(9, 2, 9)), 0.05),
        ("negative control mean", r6(rng.normal(-2, 1, 100)), r6(rng.normal(-2.2, 1, 100)), 0.1),
    ]
    out = []
    for name, c, t, alpha in data:
        ca, ta = np.array(c), np.array(t)
        o = lift_from(ca.mean(), ca.var(ddof=1) / len(ca), ta.mean(), ta.var(ddof=1) / len(ta), alpha)
        out.append(case(name, {"control": c, "treatment": t, "alpha": alpha}, o))
    return out


def lift_proportion_cases() -> list[dict]:
    specs = [("0.80 vs 0.82", (800, 1000), (820, 1000), 0.05), ("rare", (12, 4000), (20, 4100), 0.05)]
    out = []
    for name, (sc, nc), (st, nt), alpha in specs:
        pc, pt = sc / nc, st / nt
        o = lift_from(pc, pc * (1 - pc) / nc, pt, pt * (1 - pt) / nt, alpha)
        out.append(case(name, {"control": {"successes": sc, "n": nc}, "treatment": {"successes": st, "n": nt},
                                "alpha": alpha}, o))
    return out


def lift_ratio_cases() -> list[dict]:
    out = []
    for name, cspec, tspec in [("cost per call −20%", (300, 4.0, 0.01), (320, 4.0, 0.008)),
                               ("small n", (6, 2.0, 0.05), (7, 2.0, 0.05))]:
        cm, cd = session_data(*cspec)
        tm, td = session_data(*tspec)
        rc, vc = ratio_var(np.array(cm), np.array(cd))
        rt, vt = ratio_var(np.array(tm), np.array(td))
        out.append(case(name, {"control": {"m": cm, "d": cd}, "treatment": {"m": tm, "d": td}, "alpha": 0.05},
                        lift_from(rc, vc, rt, vt, 0.05)))
    return out


# --------------------------------------------------------------------------------------------
# SRM
# --------------------------------------------------------------------------------------------


def srm_cases() -> list[dict]:
    specs = [
        ("5100/4900 at 50/50 (not flagged)", [5100, 4900], [0.5, 0.5]),
        ("5300/4700 at 50/50 (flagged)", [5300, 4700], [0.5, 0.5]),
        ("exact three arms", [1000, 1000, 1000], [1, 1, 1]),
        ("90/10 canary", [90200, 9800], [0.9, 0.1]),
        ("unnormalised weights", [2010, 1985, 4105], [1, 1, 2]),
        ("six arms, one short", [1000, 1010, 990, 1005, 995, 900], [1, 1, 1, 1, 1, 1]),
        ("tiny counts", [3, 7], [0.5, 0.5]),
        ("gross mismatch (tiny p)", [6000, 4000], [0.5, 0.5]),
    ]
    out = []
    for name, counts, weights in specs:
        w = np.array(weights, dtype=float) / np.sum(weights)
        expected = np.sum(counts) * w
        res = stats.chisquare(counts, f_exp=expected)
        out.append(case(name, {"counts": counts, "weights": weights},
                        {"chi2": f(res.statistic), "df": len(counts) - 1, "p": f(res.pvalue),
                         "flagged": bool(res.pvalue < 0.001)}))
    return out


def sequential_srm_cases() -> list[dict]:
    """Per-look Dirichlet-multinomial update as in GrowthBook gbstats ssrm.py (the TypeScript side
    uses the closed form on cumulative counts instead)."""

    def log_dm(x, a):
        n = x.sum()
        return (special.gammaln(n + 1) - special.gammaln(x + 1).sum() + special.gammaln(a.sum())
                - special.gammaln(a).sum() + special.gammaln(a + x).sum() - special.gammaln(a.sum() + n))

    def log_mn(x, p):
        return special.gammaln(x.sum() + 1) + np.sum(special.xlogy(x, p) - special.gammaln(x + 1))

    specs = [
        ("balanced days", [[510, 490], [495, 505], [502, 498], [488, 512]], [0.5, 0.5], 10000.0),
        ("drifting 52/48", [[520, 480], [530, 470], [525, 475], [540, 460], [535, 465], [528, 472]],
         [0.5, 0.5], 10000.0),
        ("three arms 50/25/25, weak prior", [[500, 260, 240], [490, 250, 260], [520, 240, 240]],
         [2, 1, 1], 100.0),
        ("90/10, one arm starved", [[905, 95], [920, 80], [930, 70]], [0.9, 0.1], 10000.0),
    ]
    out = []
    for name, steps, weights, conc in specs:
        p0 = np.array(weights, dtype=float) / np.sum(weights)
        alpha = conc * p0
        log_bf = 0.0
        running = 1.0
        lbfs, ps = [], []
        for row in steps:
            x = np.array(row, dtype=float)
            log_bf += log_dm(x, alpha) - log_mn(x, p0)
            alpha = alpha + x
            running = min(running, math.exp(-log_bf))
            lbfs.append(f(log_bf))
            ps.append(f(running))
        out.append(case(name, {"steps": steps, "weights": weights, "concentration": conc},
                        {"log_bayes_factor": lbfs, "p": ps}))
    return out


# --------------------------------------------------------------------------------------------
# Holm
# --------------------------------------------------------------------------------------------


def holm_cases() -> list[dict]:
    specs = [
        ("four arms", [0.01, 0.04, 0.03, 0.005]),
        ("ties", [0.02, 0.02, 0.02, 0.5, 0.001]),
        ("clipped at 1", [0.4, 0.6, 0.9, 0.3]),
        ("single", [0.03]),
        ("zero and one", [0.0, 1.0, 0.2]),
        ("twenty arms", [f(v) for v in np.round(np.sort(rng.uniform(0, 0.2, 20))[rng.permutation(20)] ** 2, 8)]),
        ("non-monotone raw products", [0.001, 0.011, 0.012, 0.0125, 0.2]),
    ]
    out = []
    for name, p in specs:
        reject, adj, _, _ = multipletests(p, alpha=0.05, method="holm")
        out.append(case(name, {"p": p}, {"adjusted": [f(v) for v in adj], "reject_05": [bool(v) for v in reject]}))
    return out


# --------------------------------------------------------------------------------------------
# Sequential (independent NumPy/SciPy implementations of notes §5.7)
# --------------------------------------------------------------------------------------------


def cs_cases() -> list[dict]:
    def rho(alpha, n_star):
        return math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / n_star)

    specs = [
        ("at N*", 0.03, 0.01, 5000, 0.05, 5000),
        ("early, N*/10", -0.2, 0.05, 500, 0.05, 5000),
        ("late, 10·N*", 0.004, 0.002, 50000, 0.05, 5000),
        ("alpha 0.01, custom N*", 1.5, 0.8, 120, 0.01, 2000),
        ("alpha/3 (Bonferroni over 3 arms)", 0.1, 0.04, 3000, 0.05 / 3, 10000),
        ("n = 1", 0.0, 1.0, 1, 0.05, 5000),
    ]
    out = []
    for name, est, se, n, alpha, n_star in specs:
        r = rho(alpha, n_star)
        s2 = se**2 * n  # per-unit variance
        half = np.sqrt(s2) * np.sqrt((2 * (n * r**2 + 1)) / (n**2 * r**2) * np.log(np.sqrt(n * r**2 + 1) / alpha))
        out.append(case(name, {"estimate": est, "se": se, "n": n, "alpha": alpha, "tuning_n": n_star},
                        {"rho": f(r), "half_width": f(half), "lower": f(est - half), "upper": f(est + half),
                         "width_ratio": f(half / (se * stats.norm.ppf(1 - alpha / 2)))}))
    return out


def msprt_cases() -> list[dict]:
    """frouros' n-parametrised likelihood with σ² = n·s² (n arbitrary), and the interval by root
    finding on Λ(θ₀) = 1/α — not the closed forms the TypeScript side uses."""

    def log_lr(est, se, tau2, theta0, n=1000.0):
        sigma2 = n * se**2
        x = est - theta0
        return 0.5 * math.log(sigma2 / (sigma2 + n * tau2)) + n * n * tau2 * x**2 / (2 * sigma2 * (sigma2 + n * tau2))

    specs = [
        ("no effect", 0.0, 0.01, 1e-4, 0.0, 1.0, 0.05),
        ("moderate effect", 0.025, 0.01, 4e-4, 0.0, 1.0, 0.05),
        ("strong effect, huge LR", 0.2, 0.01, 0.01, 0.0, 1.0, 0.05),
        ("previous p smaller", 0.01, 0.01, 1e-4, 0.0, 0.2, 0.05),
        ("non-zero null", 1.3, 0.2, 0.25, 1.0, 1.0, 0.1),
        ("negative estimate", -0.05, 0.02, 0.0025, 0.0, 1.0, 0.01),
    ]
    out = []
    for name, est, se, tau2, theta0, prev, alpha in specs:
        ll = log_lr(est, se, tau2, theta0)
        p = min(prev, 1.0, math.exp(-ll))
        target = math.log(1 / alpha)
        g = lambda th: log_lr(est, se, tau2, th) - target  # noqa: E731
        width = 50 * se + 1
        lo = optimize.brentq(g, est - width, est, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
        hi = optimize.brentq(g, est, est + width, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
        out.append(case(name, {"estimate": est, "se": se, "tau2": tau2, "theta0": theta0, "previous_p": prev,
                               "alpha": alpha},
                        {"log_lr": f(ll), "p": f(p), "ci_lower": f(lo), "ci_upper": f(hi)}))
    return out


def msprt_tau2_cases() -> list[dict]:
    """frouros mSPRT._calculate_tau_squared."""
    out = []
    for name, sigma2, horizon, alpha in [("unit variance, M=10000", 1.0, 10000, 0.05),
                                         ("pair variance 2, M=5000", 2.0, 5000, 0.05),
                                         ("small variance", 0.0625, 20000, 0.01),
                                         ("short horizon", 4.0, 100, 0.1)]:
        b = 2 * np.log(1 / alpha) / ((horizon * sigma2) ** 0.5)
        tau2 = sigma2 * stats.norm.cdf(-b) / (1 / b * stats.norm.pdf(b) - stats.norm.cdf(-b))
        out.append(case(name, {"sigma2": sigma2, "horizon": horizon, "alpha": alpha}, {"tau2": f(tau2)}))
    return out


# --------------------------------------------------------------------------------------------
# Power (statsmodels NormalIndPower)
# --------------------------------------------------------------------------------------------

POWER = NormalIndPower()


def power_at_cases() -> list[dict]:
    return [case(f"x={x}, alpha={a}", {"x": x, "alpha": a}, {"power": f(normal_power(x, 1, a))})
            for x, a in [(0.0, 0.05), (1.0, 0.05), (2.8, 0.05), (-2.0, 0.05), (3.5, 0.01)]]


def solve_n(effect_size: float, alpha: float, power: float) -> float:
    """Units per arm: the root of statsmodels' NormalIndPower().power(effect_size, n) = power, by
    brentq to machine precision. solve_power() answers the same question but stops at its solver
    tolerance (~1e-8 relative for n, ~1e-5 for the effect size), so it is only a cross-check."""
    n = optimize.brentq(lambda x: float(POWER.power(effect_size=effect_size, nobs1=x, alpha=alpha, ratio=1.0))
                        - power, 1e-6, 1e12, xtol=1e-12, rtol=4 * np.finfo(float).eps, maxiter=500)
    loose = float(np.squeeze(POWER.solve_power(effect_size=effect_size, alpha=alpha, power=power, ratio=1.0,
                                               alternative="two-sided")))
    assert abs(loose - n) < 1e-6 * n, (effect_size, loose, n)
    return n


def sample_size_mean_cases() -> list[dict]:
    specs = [
        ("judge score SD 1, +0.05", 0.05, 1.0, 1.0, 0.05, 0.8),
        ("unequal variances", 0.3, 2.0, 3.5, 0.05, 0.8),
        ("log-latency SD 0.6, 5%", math.log(1.05), 0.36, 0.36, 0.05, 0.8),
        ("alpha 0.01, power 0.9", 1.0, 25.0, 25.0, 0.01, 0.9),
        ("negative delta", -0.5, 4.0, 4.0, 0.1, 0.95),
    ]
    out = []
    for name, delta, vc, vt, alpha, power in specs:
        n = solve_n(abs(delta) / math.sqrt((vc + vt) / 2), alpha, power)
        out.append(case(name, {"delta": delta, "var_control": vc, "var_treatment": vt, "alpha": alpha,
                               "power": power}, {"exact": n, "per_arm": math.ceil(n)}))
    return out


def mde_mean_cases() -> list[dict]:
    """solve_power(effect_size=None, ...) stops at ~1e-5 relative (its solver tolerance: at n=6280 it
    returns an effect whose power is 0.8 + 7e-6), so the reference is the brentq root of
    statsmodels' own power function, to machine precision."""
    out = []
    for name, n, vc, vt, alpha, power in [("n=6280, SD 1", 6280, 1.0, 1.0, 0.05, 0.8),
                                          ("n=100, unequal variances", 100, 2.0, 3.0, 0.05, 0.8),
                                          ("n=12, alpha 0.1", 12, 1.0, 1.0, 0.1, 0.9)]:
        d = optimize.brentq(lambda es: float(POWER.power(effect_size=es, nobs1=n, alpha=alpha, ratio=1.0)) - power,
                            1e-9, 50, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
        loose = float(np.squeeze(POWER.solve_power(effect_size=None, nobs1=n, alpha=alpha, power=power, ratio=1.0)))
        assert abs(loose - d) < 1e-4 * d, (name, loose, d)
        out.append(case(name, {"n": n, "var_control": vc, "var_treatment": vt, "alpha": alpha, "power": power},
                        {"mde": f(d * math.sqrt((vc + vt) / 2))}))
    return out


def sample_size_proportion_cases() -> list[dict]:
    out = []
    for name, p1, p2, alpha, power in [("0.80 → 0.82", 0.80, 0.82, 0.05, 0.8),
                                       ("rare: 1% → 1.5%", 0.01, 0.015, 0.05, 0.8),
                                       ("decrease 0.5 → 0.45, alpha 0.01", 0.5, 0.45, 0.01, 0.9)]:
        n = solve_n(abs(p2 - p1) / math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2), alpha, power)
        out.append(case(name, {"baseline": p1, "target": p2, "alpha": alpha, "power": power},
                        {"exact": n, "per_arm": math.ceil(n)}))
    return out


def mde_proportion_cases() -> list[dict]:
    """Root of NormalIndPower().power(δ/√((v(p)+v(p±δ))/2), n) = target, by brentq."""
    out = []
    for name, n, p, direction, alpha, power in [("n=6040 at 0.80 up", 6040, 0.80, "up", 0.05, 0.8),
                                                ("n=6040 at 0.80 down", 6040, 0.80, "down", 0.05, 0.8),
                                                ("n=500 at 0.05 up", 500, 0.05, "up", 0.05, 0.8),
                                                ("n=10 at 0.5 up, no MDE", 10, 0.5, "up", 0.05, 0.9)]:
        sign = 1 if direction == "up" else -1

        def pw(delta):
            pt = p + sign * delta
            es = delta / math.sqrt((p * (1 - p) + pt * (1 - pt)) / 2)
            return float(POWER.power(effect_size=es, nobs1=n, alpha=alpha, ratio=1.0)) - power

        max_delta = 1 - p if sign > 0 else p
        mde = None
        if pw(max_delta) >= 0:
            mde = f(optimize.brentq(pw, 1e-12, max_delta, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500))
        out.append(case(name, {"n": n, "baseline": p, "direction": direction, "alpha": alpha, "power": power},
                        {"mde": mde}))
    return out


# --------------------------------------------------------------------------------------------
# Quantiles and log-latency
# --------------------------------------------------------------------------------------------


def quantile_cases() -> list[dict]:
    qs = [0.0, 0.05, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0]
    data = [
        ("single value", [42.0]),
        ("two values", [10.0, 20.0]),
        ("unsorted with ties", [5.0, 1.0, 3.0, 3.0, 9.0, 1.0, 7.0]),
        ("negative and positive", [-3.5, 2.25, -1.0, 0.0, 8.5, 4.75]),
        ("lognormal latencies n=1000", r6(rng.lognormal(math.log(800), 0.6, 1000))),
    ]
    return [case(name, {"values": v, "qs": qs}, {"quantiles": [f(x) for x in np.quantile(np.array(v), qs)]})
            for name, v in data]


def log_ratio_cases() -> list[dict]:
    data = [
        ("5% faster, n=400 vs 380", r6(rng.lognormal(math.log(800), 0.6, 400)),
         r6(rng.lognormal(math.log(760), 0.6, 380)), 0.05),
        ("small n, wider tail", r6(rng.lognormal(math.log(1200), 0.4, 9)), r6(rng.lognormal(math.log(1500), 1.0, 11)),
         0.05),
        ("alpha 0.1", r6(rng.lognormal(5, 0.5, 100)), r6(rng.lognormal(5, 0.5, 120)), 0.1),
    ]
    out = []
    for name, c, t, alpha in data:
        lc, lt = np.log(np.array(c)), np.log(np.array(t))
        res = stats.ttest_ind(lt, lc, equal_var=False)
        ci = res.confidence_interval(confidence_level=1 - alpha)
        diff = lt.mean() - lc.mean()
        out.append(case(name, {"control": c, "treatment": t, "alpha": alpha},
                        {"ratio": f(np.exp(diff)), "ci_lower": f(np.exp(ci.low)), "ci_upper": f(np.exp(ci.high)),
                         "p": f(res.pvalue), "df": f(res.df)}))
    return out


# --------------------------------------------------------------------------------------------


def build() -> dict:
    # Order matters: the sections draw from one seeded generator in this order.
    sections = {
        "wilson": ("statsmodels proportion_confint(method='wilson')", wilson_cases),
        "two_proportions": ("statsmodels proportions_ztest (pooled) / test_proportions_2indep(method='wald') "
                            "(unpooled); CI confint_proportions_2indep(method='wald', compare='diff')",
                            two_proportion_cases),
        "welch": ("scipy.stats.ttest_ind(treatment, control, equal_var=False) and .confidence_interval",
                  welch_cases),
        "ratio": ("independent NumPy: Var(M − R·D, ddof=1)/(n·mean(D)²); scipy.stats.norm", ratio_cases),
        "lift_means": ("independent NumPy, GrowthBook details.mdx delta method; scipy.stats.norm",
                       lift_mean_cases),
        "lift_proportions": ("independent NumPy, variance p(1−p)/n; scipy.stats.norm", lift_proportion_cases),
        "lift_ratios": ("independent NumPy, ratio variances by linearisation; scipy.stats.norm", lift_ratio_cases),
        "srm": ("scipy.stats.chisquare(counts, f_exp=N·w)", srm_cases),
        "sequential_srm": ("per-look Dirichlet-multinomial update with scipy.special.gammaln (gbstats ssrm.py)",
                           sequential_srm_cases),
        "holm": ("statsmodels multipletests(p, alpha=0.05, method='holm')", holm_cases),
        "confidence_sequence": ("independent NumPy, Waudby-Smith et al. eq. 9/161 (GrowthBook power-technical.mdx)",
                                cs_cases),
        "msprt": ("independent: frouros n-parametrised likelihood; interval by scipy.optimize.brentq", msprt_cases),
        "msprt_tau2": ("frouros mSPRT._calculate_tau_squared with scipy.stats.norm", msprt_tau2_cases),
        "power_at": ("statsmodels.stats.power.normal_power(x, nobs=1, alpha)", power_at_cases),
        "sample_size_mean": ("root of statsmodels NormalIndPower().power(effect_size=|δ|/√((σ²_C+σ²_T)/2), n) = power "
                             "(scipy brentq; cross-checked with solve_power)",
                             sample_size_mean_cases),
        "mde_mean": ("scipy.optimize.brentq on statsmodels NormalIndPower().power, × √((σ²_C+σ²_T)/2)", mde_mean_cases),
        "sample_size_proportion": ("root of statsmodels NormalIndPower().power, variances p(1−p) (scipy brentq)",
                                   sample_size_proportion_cases),
        "mde_proportion": ("scipy.optimize.brentq on statsmodels NormalIndPower().power", mde_proportion_cases),
        "quantiles": ("numpy.quantile (method='linear')", quantile_cases),
        "log_ratio": ("scipy.stats.ttest_ind(log T, log C, equal_var=False), exponentiated", log_ratio_cases),
    }
    return {
        "generator": "tests/golden/make_stats_reference.py",
        "seed": SEED,
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "statsmodels": statsmodels.__version__,
        },
        "sections": {key: {"reference": ref, "cases": fn()} for key, (ref, fn) in sections.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args()
    doc = build()
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2, allow_nan=False)
        fh.write("\n")
    n = sum(len(s["cases"]) for s in doc["sections"].values())
    print(f"wrote {n} cases in {len(doc['sections'])} sections to {args.out}", file=sys.stderr)
    if Path(args.out).resolve() == DEFAULT_OUT.resolve():
        # The committed file is linted by `biome check .` in CI, so give it biome's layout (short
        # arrays on one line). Only whitespace changes; the numbers are the tokens written above.
        root = DEFAULT_OUT.parents[2]
        done = subprocess.run(["npx", "--no-install", "biome", "format", "--write", str(DEFAULT_OUT)], cwd=root,
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(f"could not run biome; format it before committing:\n{done.stderr}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
