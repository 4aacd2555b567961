"""Which lanes a run has and what the page calls them: pairing by "compare_with", each start named by how
it was trained, the header saying truthfully what differs; with tiny untrained checkpoints."""
import pytest
import torch

from demo.page.handlers import make_run
from demo.page.run import lane_titles
from demo.page.switch import header
from demo.runtime.checkpoints import load_models, write_random_checkpoints
from demo.runtime.lanes import comparison, lane_details, title
from demo.runtime.request import make_lanes
from demo.runtime.session import Session
from demo.runtime.shots import example_sets, glyph_from_image
from meta.model import GeneratorConfig

SMALL = GeneratorConfig(block_out_channels=(8, 16), norm_num_groups=4, ctx_channels=4)
ALGOS = (("glyphs-cavia", "fomaml", "context", 0.1), ("glyphs-joint", "joint", "all", 1e-4),
         ("glyphs-no-outer-loop", "autodecoder", "context", 0.3), ("glyphs-autodecoder", "autodecoder", "context", 0.3))


def models_with(tmp_path, extra, algos=ALGOS, config=SMALL):
    return load_models(write_random_checkpoints(tmp_path, config, algos, extra=extra), torch.device("cpu"))


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    """glyphs-cavia names glyphs-no-outer-loop (same architecture, another inner_lr) as its comparison."""
    return models_with(tmp_path_factory.mktemp("paired"), {"glyphs-cavia": {"compare_with": "glyphs-no-outer-loop"}})


def test_compare_with_pairs_the_named_checkpoint_with_the_identical_inner_loop(paired):
    pair = paired.pairing("glyphs-cavia")
    assert (pair.baseline, pair.same_loop, pair.named) == ("glyphs-no-outer-loop", True, True)
    lanes = make_lanes(paired, "glyphs-cavia", None, True)
    assert lanes["baseline"].generator is paired.generators["glyphs-no-outer-loop"]
    assert lanes["baseline"].cfg == lanes["meta"].cfg and lanes["meta"].cfg.inner_lr == 0.1  # the meta lane's loop
    lanes = make_lanes(paired, "glyphs-cavia", 0.02, True)  # the page's inner_lr changes both lanes
    assert lanes["meta"].cfg.inner_lr == lanes["baseline"].cfg.inner_lr == 0.02
    words = comparison(paired, "glyphs-cavia")
    assert "differ only by the outer loop" in words and "meta-learned (first-order MAML" in words
    assert "trained with a code per character (auto-decoder; no outer loop through adaptation)" in words
    assert lane_titles(paired, "glyphs-cavia")[:2] == ("#### Left · Meta-learned start",
                                                       "#### Right · Trained with a code per character")
    assert "changes both" in lane_details(paired, "glyphs-cavia")


def test_without_compare_with_the_joint_checkpoint_runs_its_own_loop_and_the_header_says_what_differs(paired):
    pair = paired.pairing("glyphs-autodecoder")
    assert (pair.baseline, pair.same_loop, pair.named) == ("glyphs-joint", False, False)
    lanes = make_lanes(paired, "glyphs-autodecoder", 0.05, True)
    assert lanes["meta"].cfg.inner_lr == 0.05 and lanes["baseline"].cfg.inner_lr == 1e-4  # its own loop
    assert lanes["baseline"].cfg.adapt == "all"
    words = comparison(paired, "glyphs-autodecoder")
    assert "only by the outer loop" not in words
    assert "what learns (left: only its context; right: all its weights)" in words and "learning rate" in words
    assert "ordinary DDPM" in words
    # "meta-learned" only where the checkpoint was trained through its inner loop: never for the auto-decoder
    for text in (words, header(paired, "glyphs-autodecoder"), *lane_titles(paired, "glyphs-autodecoder")[:2]):
        assert "meta-learned" not in text.lower()
    assert title(paired.records["glyphs-joint"]) == "Ordinary start"
    assert make_lanes(paired, "glyphs-autodecoder", None, False).keys() == {"meta"}  # the checkbox off: one lane


def test_a_missing_or_different_comparison_falls_back_and_says_so(tmp_path):
    missing = models_with(tmp_path / "a", {"glyphs-cavia": {"compare_with": "glyphs-not-shipped"}})
    pair = missing.pairing("glyphs-cavia")
    assert (pair.baseline, pair.same_loop) == ("glyphs-joint", False)
    assert "`glyphs-not-shipped`, the comparison named in its training.json, is not installed, so the right side is the ordinary" in lane_details(missing, "glyphs-cavia")
    # a comparison of another architecture cannot run the same loop: each runs its own, and the header lists what differs
    bigger = GeneratorConfig(block_out_channels=(8, 16), norm_num_groups=4, ctx_channels=8)
    folder = write_random_checkpoints(tmp_path / "b", SMALL, ALGOS[:2], extra={"glyphs-cavia": {"compare_with": "glyphs-big"}})
    write_random_checkpoints(folder, bigger, (("glyphs-big", "autodecoder", "context", 0.3),))
    mixed = load_models(folder, torch.device("cpu"))
    pair = mixed.pairing("glyphs-cavia")
    assert (pair.baseline, pair.same_loop, pair.named) == ("glyphs-big", False, True)
    assert "architecture" in comparison(mixed, "glyphs-cavia") and "only by the outer loop" not in comparison(mixed, "glyphs-cavia")
    alone = models_with(tmp_path / "c", None, algos=ALGOS[:1])  # no joint, no comparison: one lane
    assert alone.pairing("glyphs-cavia").baseline is None and make_lanes(alone, "glyphs-cavia", None, True).keys() == {"meta"}


def test_a_paired_run_streams_both_lanes_named_by_training(paired):
    session = Session()
    session.shots = [glyph_from_image(im, "x") for im in next(iter(example_sets().values()))][:3]
    final = list(make_run(paired)(None, 2, 0, checkpoint="glyphs-cavia", samples=2, sampler_steps=2, session=session))[-1]
    assert session.names == {"meta": "meta-learned", "baseline": "code-per-character"}
    assert "done" in final[3] and final[1] is not None
    session.cleanup()


def test_start_up_loads_only_the_default_pair(paired):
    fresh = load_models(paired.folder, torch.device("cpu"))
    assert [n for n in fresh.generators if fresh.generators.is_loaded(n)] == ["glyphs-cavia", "glyphs-no-outer-loop"]
    assert fresh.generators["glyphs-joint"].config.channels == 1  # the others load on first use
    assert fresh.generators.is_loaded("glyphs-joint")
