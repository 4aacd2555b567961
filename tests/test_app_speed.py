"""Speed of the live run at the shipped size (UNet (16, 32, 64), ~0.6M parameters, untrained weights).

Targets on an idle 2-core CPU: first frame <= 2 s after Run; one inner step plus its preview grid
<= 0.5 s (median) with the baseline off, <= 1 s with it on. A shared or busy machine is slower, so
the targets are asserted only with INNER_LOOP_STRICT_TIMING=1; otherwise the numbers are printed
and only gross regressions fail.
"""
import os

import pytest

from demo.tools.bench import time_run
from demo.runtime.checkpoints import load_models, write_random_checkpoints

pytestmark = pytest.mark.slow
STRICT = os.environ.get("INNER_LOOP_STRICT_TIMING") == "1"


@pytest.fixture(scope="module")
def shipped_size_models(tmp_path_factory):
    return load_models(write_random_checkpoints(tmp_path_factory.mktemp("shipped-size")))


@pytest.mark.parametrize("baseline, target", [(False, 0.5), (True, 1.0)])
def test_first_frame_and_step_time(shipped_size_models, baseline, target, capsys):
    r = time_run(shipped_size_models, baseline, steps=5)
    with capsys.disabled():
        print(f"\n[speed] baseline {'on' if baseline else 'off'}: first frame {r['first_frame_s']:.2f} s, "
              f"step + preview median {r['step_median_s']:.3f} s ({r['threads']} threads)")
    slack = 1 if STRICT else 8  # a busy CI machine gets room; a 10x regression still fails
    assert r["first_frame_s"] <= 2.0 * slack
    assert r["step_median_s"] <= target * slack
