"""The hand path of docs/check-it-yourself.md, in plain Python (lists, sums, min and max; the
policy values read from the TOML file itself), equals tf.formula_allocation to the yuan."""

from __future__ import annotations

import math
import tomllib
from importlib import resources

import townfiscal as tf

CODE = "441581101"
FUND = 2_000_000_000


def _policy_values() -> dict[str, object]:
    path = resources.files("townfiscal.policy") / "files" / "guangdong-2020.toml"
    doc = tomllib.loads(path.read_text(encoding="utf-8"))

    def flat(node: dict, prefix: str = "") -> dict[str, object]:
        out: dict[str, object] = {}
        for key, item in node.items():
            where = f"{prefix}.{key}" if prefix else key
            out.update({where: item["value"]} if "value" in item else flat(item, where))
        return out

    return flat(doc["parameters"])


def _by_hand() -> dict[str, int]:
    p = _policy_values()
    rows = tf.load_example().reset_index().to_dict("records")
    areas = tuple(p["eligibility.areas"])
    towns = [r for r in rows
             if r["kind"] in p["eligibility.kinds"] and str(r["code"]).startswith(areas)]
    n = len(towns)
    cap = p["normalisation.cap"]
    k = [t["fiscal_capacity"] / t["supported_population"] for t in towns]
    e = [t["expenditure"] / t["resident_population"] for t in towns]
    s_bar = sum(t["supported_population"] for t in towns) / n
    h_bar = sum(t["registered_population"] for t in towns) / n
    k_bar, e_bar = sum(k) / n, sum(e) / n
    w = [p[f"factors.{f}.weight"] for f in ("supported_population", "registered_population",
                                            "capacity_per_supported", "expenditure_per_resident")]
    coef = [(w[0] * min(t["supported_population"] / s_bar, cap)
             + w[1] * min(t["registered_population"] / h_bar, cap)
             + w[2] * min(k_bar / ki, cap) + w[3] * min(e_bar / ei, cap))
            * p["regional_coefficient"][t["zone"]]
            for t, ki, ei in zip(towns, k, e, strict=True)]
    floor, growth = p["growth_control.floor"], p["growth_control.cap"]
    lo = [(1 + floor) * t["prior_amount"] if t["prior_amount"] > 0 else 0.0 for t in towns]
    hi = [(1 + growth) * t["prior_amount"] if t["prior_amount"] > 0 else math.inf
          for t in towns]
    held: dict[int, float] = {}  # town -> the bound it is held at
    while True:
        free = [i for i in range(n) if i not in held]
        lam = (FUND - sum(held.values())) / sum(coef[i] for i in free)
        x = [min(max(lam * c, a), b) for c, a, b in zip(coef, lo, hi, strict=True)]
        now = {i: x[i] for i in range(n) if x[i] <= lo[i] or x[i] >= hi[i]}
        if now.keys() == held.keys():
            break
        held = now
    whole = [math.floor(v + 1e-6) for v in x]
    left = FUND - sum(whole)
    rank = sorted((i for i in range(n) if whole[i] + 1 <= hi[i] + 1e-6),
                  key=lambda i: (-(x[i] - whole[i]), -x[i], i))
    for i in rank[:left]:
        whole[i] += 1
    return {str(t["code"]): v for t, v in zip(towns, whole, strict=True)}


def test_the_hand_path_gives_the_librarys_amount_to_the_yuan():
    """441581101's amount by plain arithmetic equals the library's, and so does every town's."""
    hand = _by_hand()
    fa = tf.formula_allocation(tf.load_example(), "guangdong-2020", fund=FUND)
    assert hand[CODE] == int(fa.loc[CODE, "amount"]) == 3_271_065
    assert sum(hand.values()) == FUND
    assert hand == {code: int(v) for code, v in fa["amount"].items()}
