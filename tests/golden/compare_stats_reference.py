#!/usr/bin/env python3
"""Numeric comparison of two stats-reference.json files (committed vs regenerated).

Structure, strings, booleans and nulls must be identical; numbers must agree to 1e-9 relative
(1e-12 absolute near zero), which absorbs last-digit differences between library builds but not
a changed case or formula. The "versions" block is reported, not compared.

    python compare_stats_reference.py COMMITTED REGENERATED   # exit 1 on any mismatch
"""

from __future__ import annotations

import json
import math
import sys

REL, ABS = 1e-9, 1e-12


def walk(a, b, path: str, problems: list[str]) -> None:
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None or isinstance(a, str):
        if a != b or type(a) is not type(b):
            problems.append(f"{path}: {a!r} != {b!r}")
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if not (math.isfinite(a) and math.isfinite(b)) or abs(a - b) > max(ABS, REL * abs(a)):
            problems.append(f"{path}: {a!r} != {b!r}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            problems.append(f"{path}: length {len(a)} != {len(b)}")
            return
        for i, (x, y) in enumerate(zip(a, b)):
            walk(x, y, f"{path}[{i}]", problems)
    elif isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            problems.append(f"{path}: keys {sorted(set(a) ^ set(b))} differ")
        for k in sorted(set(a) & set(b)):
            walk(a[k], b[k], f"{path}.{k}", problems)
    else:
        problems.append(f"{path}: {type(a).__name__} != {type(b).__name__}")


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as fh:
        committed = json.load(fh)
    with open(sys.argv[2], encoding="utf-8") as fh:
        regenerated = json.load(fh)
    versions = (committed.pop("versions", None), regenerated.pop("versions", None))
    if versions[0] != versions[1]:
        print(f"note: library versions differ: committed {versions[0]}, now {versions[1]}")
    problems: list[str] = []
    walk(committed, regenerated, "$", problems)
    if problems:
        print(f"stats reference MISMATCH ({len(problems)}):")
        for p in problems[:50]:
            print(f"  {p}")
        return 1
    n = sum(len(s["cases"]) for s in committed["sections"].values())
    print(f"stats reference OK: {n} cases in {len(committed['sections'])} sections reproduce "
          f"to {REL:g} relative")
    return 0


if __name__ == "__main__":
    sys.exit(main())
