"""meta.report: the verdict compares paired per-task values, and says 'behind' as readily as 'ahead'."""
import numpy as np
import pytest

from meta.report import difference, markdown, verdict

INNER = {"adapt": "context", "inner_lr": 0.3}


def measures(within_per_task: list[list[float]], diversity=1.0, copy=1.0) -> dict:
    a = np.asarray(within_per_task)
    return {"steps": [0, 3][: len(a)], "recognisability": a.mean(1).tolist(), "recognisability_within": a.mean(1).tolist(),
            "recognisability_within_stderr": (a.std(1, ddof=1) / np.sqrt(a.shape[1])).tolist(),
            "diversity": [diversity] * len(a), "copy_distance": [copy] * len(a), "per_task": {"recognisability_within": a.tolist()}}


def report(meta_rows, other_rows, template_row, **meta_kw) -> dict:
    template = measures([template_row])
    template = {k: (v[0] if isinstance(v, list) and k != "per_task" else v) for k, v in template.items()}
    template["per_task"] = {"recognisability_within": template_row}
    return {"tasks": [{}] * len(template_row), "chance": 0.05, "split": "evaluation",
            "config": {"shots": 5, "samples": 4, "ways": 20},
            "baselines": {"template": template},
            "results": {"meta": {**measures(meta_rows, **meta_kw), "algo": "fomaml", "meta_learned": True, "inner": INNER},
                        "plain": {**measures(other_rows), "algo": "autodecoder", "meta_learned": False, "inner": INNER},
                        "other-loop": {**measures(other_rows), "algo": "joint", "meta_learned": False, "inner": {"adapt": "all"}}}}


def test_paired_difference_uses_the_same_tasks():
    # a constant 0.1 lead on every task: the paired standard error is 0, the unpaired one is not
    a = {"recognisability_within": [0.5], "recognisability_within_stderr": [0.1], "per_task": {"recognisability_within": [[0.2, 0.5, 0.8]]}}
    b = {"recognisability_within": [0.4], "recognisability_within_stderr": [0.1], "per_task": {"recognisability_within": [[0.1, 0.4, 0.7]]}}
    assert difference(a, 0, b, 0) == pytest.approx((0.1, 0.0), abs=1e-9)
    del a["per_task"]
    assert difference(a, 0, b, 0) == pytest.approx((0.1, np.hypot(0.1, 0.1)))


def test_verdict_ahead_behind_and_only_against_the_identical_inner_loop():
    tasks = 8
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.6, (2, tasks))
    rows = verdict(report((base + 0.3).tolist(), base.tolist(), [0.99] * tasks, diversity=0.5, copy=0.9))
    assert [r["step"] for r in rows] == [0, 3]
    for r in rows:
        assert set(r["against"]) == {"plain", "template"}  # not "other-loop": it runs another inner loop
        assert r["against"]["plain"]["verdict"] == "ahead" and r["against"]["template"]["verdict"] == "behind"
        assert not r["diverse"] and r["not_copies"]
    text = markdown(report(base.tolist(), base.tolist(), [0.3] * tasks))
    assert "within noise" in text and "the shots' pixelwise majority" in text
