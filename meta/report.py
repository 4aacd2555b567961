"""The results table and verdict of an evaluation, in words a reader can check.

`python -m meta.report results.json --md results.md [--figure tradeoff.png]` reads what
`meta.evaluate` wrote and writes:
  - the reference rows (`"baselines"`: real drawings, a copy, a shifted copy, the template image, the
    template written into each sketch context), then every start after each inner step: recognised
    within the real spread (± its standard error over tasks), diversity, copy_distance;
  - the verdict on the question the project asks: does each meta-learned start beat every start
    that ran the identical inner loop without an outer loop, and the zero-step templates, at each step?
    A difference counts when it exceeds two standard errors of the per-task paired difference (the
    same tasks, drawers and noise in every row); without per-task values, of the unpaired one.
  - with --figure, diversity against recognisability (`meta.figure.tradeoff`).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .algorithms import describe
from .figure import tradeoff

MIN_DIVERSITY = MIN_COPY_DISTANCE = 0.7  # of real drawings: below, the samples are a template or copies
REFERENCES = {"real": "real held-out drawings (the ceiling)", "copy": "the 5 support drawings (a copy)",
              "shifted_copy": "the support shifted 1-2 pixels", "template": "the shots' pixelwise majority, repeated"}


def pct(v: float) -> str:
    return f"{100 * v:.0f} %"


def reference_name(key: str) -> str:
    if key.startswith("template_context:"):
        return f"the template written into `{key.split(':', 1)[1]}`'s sketch, 0 steps"
    return REFERENCES.get(key, key)


def difference(a: dict, ia: int | None, b: dict, ib: int | None) -> tuple[float, float]:
    """Mean and standard error of (a - b) in recognisability_within, paired by task where both have per-task values."""
    def per_task(m, i):
        v = m.get("per_task", {}).get("recognisability_within")
        return None if v is None else np.asarray(v[i] if i is not None else v, dtype=float)

    def value(m, i, key):
        v = m[key]
        return v[i] if i is not None else v

    pa, pb = per_task(a, ia), per_task(b, ib)
    if pa is not None and pb is not None and pa.shape == pb.shape and len(pa) > 1:
        d = pa - pb
        return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))
    mean = value(a, ia, "recognisability_within") - value(b, ib, "recognisability_within")
    se = np.hypot(value(a, ia, "recognisability_within_stderr"), value(b, ib, "recognisability_within_stderr"))
    return float(mean), float(se)


def judged(d: float, se: float) -> str:
    if d > 2 * se:
        return "ahead"
    if d < -2 * se:
        return "behind"
    return "within noise"


def tables(report: dict) -> str:
    results, refs = report["results"], report.get("baselines", {})
    cfg = report["config"]
    lines = [f"{len(report['tasks'])} unseen characters ({report.get('split', 'evaluation')} alphabets), "
             f"{cfg['shots']} shots, {cfg['samples']} samples per task and step, the judge choosing among "
             f"{cfg['ways']} characters of the alphabet (chance {pct(report['chance'])}). Each cell: recognised "
             "within the real spread (± standard error over tasks) · diversity · copy distance (both: real drawings = 1).", ""]
    if refs:
        lines += ["| reference (no generator, or no inner step) | recognised | within the real spread | diversity | copy distance |",
                  "|---|---|---|---|---|"]
        for key, m in refs.items():
            lines.append(f"| {reference_name(key)} | {pct(m['recognisability'])} | {pct(m['recognisability_within'])} "
                         f"(± {100 * m['recognisability_within_stderr']:.0f}) | {m['diversity']:.2f} | {m['copy_distance']:.2f} |")
        lines.append("")
    steps = next(iter(results.values()))["steps"] if results else []
    lines += ["| start: how it was trained | " + " | ".join(f"step {k}" for k in steps) + " |",
              "|---" * (len(steps) + 1) + "|"]
    for label, r in results.items():
        cells = [f"{pct(w)} (± {100 * s:.0f}) · {d:.2f} · {c:.2f}" for w, s, d, c in
                 zip(r["recognisability_within"], r["recognisability_within_stderr"], r["diversity"], r["copy_distance"])]
        lines.append(f"| `{label}`: {describe(r)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict(report: dict) -> list[dict]:
    """For each meta-learned start and step: its standing against every non-meta start run with the identical
    inner loop, against the zero-step templates, and on diversity and copy distance."""
    results, refs = report["results"], report.get("baselines", {})
    out = []
    for label, r in results.items():
        if not r.get("meta_learned"):
            continue
        rivals = [k for k, o in results.items() if k != label and not o.get("meta_learned") and o.get("inner") == r.get("inner")]
        templates = [k for k in refs if k == "template" or k.startswith("template_context:")]  # every zero-step shortcut
        for i, step in enumerate(r["steps"]):
            row = {"start": label, "step": step, "within": r["recognisability_within"][i],
                   "diversity": r["diversity"][i], "copy_distance": r["copy_distance"][i], "against": {}}
            for k in rivals:
                j = results[k]["steps"].index(step) if step in results[k]["steps"] else None
                if j is not None:
                    d, se = difference(r, i, results[k], j)
                    row["against"][k] = {"difference": d, "stderr": se, "verdict": judged(d, se)}
            for k in templates:
                d, se = difference(r, i, refs[k], None)
                row["against"][k] = {"difference": d, "stderr": se, "verdict": judged(d, se)}
            row["diverse"] = r["diversity"][i] >= MIN_DIVERSITY
            row["not_copies"] = r["copy_distance"][i] >= MIN_COPY_DISTANCE
            out.append(row)
    return out


def verdict_markdown(rows: list[dict]) -> str:
    if not rows:
        return "No meta-learned start in this evaluation."
    lines = ["| meta-learned start, step | against (difference in recognised within the real spread ± paired SE) | diversity ≥ 0.7 | copy distance ≥ 0.7 |",
             "|---|---|---|---|"]
    for row in rows:
        against = "; ".join(f"`{k}` {100 * v['difference']:+.0f} ± {100 * v['stderr']:.0f}: **{v['verdict']}**"
                            for k, v in row["against"].items())
        lines.append(f"| `{row['start']}`, {row['step']} | {against} | {'yes' if row['diverse'] else 'no'} "
                     f"({row['diversity']:.2f}) | {'yes' if row['not_copies'] else 'no'} ({row['copy_distance']:.2f}) |")
    return "\n".join(lines)


def markdown(report: dict) -> str:
    return (tables(report) + "\n\n**Verdict** (ahead / behind: by more than two standard errors):\n\n"
            + verdict_markdown(verdict(report)) + "\n")


def main(argv=None) -> str:
    p = argparse.ArgumentParser(prog="python -m meta.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", help="a meta.evaluate JSON")
    p.add_argument("--md", default="", help="write the tables and the verdict here (default: print them)")
    p.add_argument("--figure", default="", help="write the diversity-vs-recognisability figure here")
    p.add_argument("--only", nargs="*", default=None, help="starts to draw in the figure (default: all)")
    a = p.parse_args(argv)
    report = json.loads(Path(a.results).read_text())
    text = markdown(report)
    if a.md:
        Path(a.md).write_text(text)
    else:
        print(text)
    if a.figure:
        tradeoff(report, a.figure, only=a.only)
    return text


if __name__ == "__main__":
    main()
