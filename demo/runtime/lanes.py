"""What each lane of a run is called, and how the two lanes differ, in plain words from training.json.

Every start is named by how it was trained (`meta.algorithms.describe`); only a checkpoint trained
through its inner loop (`meta.algorithms.meta_learned`) is called meta-learned. When the selected
checkpoint names its comparison ("compare_with") and the two share an architecture, both run the
selected one's inner loop and the page says they differ only by the outer loop; otherwise it lists
what differs (architecture, what adapts, the inner loop's settings, guidance).
"""
from __future__ import annotations

from meta.algorithms import describe as how_trained, meta_learned
from meta.inner import InnerConfig

from .checkpoints import Models, Pairing, inner_config

TITLES = {"autodecoder": "Trained with a code per character", "joint": "Ordinary start", "scratch": "Untrained start"}
SHORT = {"autodecoder": "code-per-character", "joint": "ordinary", "scratch": "untrained"}
ADAPTS = {"context": "only its context", "all": "all its weights", "weights": "its UNet weights"}


def title(record: dict) -> str:
    """A lane's heading: "Meta-learned start" only for a checkpoint trained through its inner loop."""
    algo = record.get("algo")
    return "Meta-learned start" if meta_learned(record) else TITLES.get(algo, f"Start trained with {algo!r}")


def short(record: dict) -> str:
    """A lane's name in legends, the status line and picture titles."""
    algo = record.get("algo")
    return "meta-learned" if meta_learned(record) else SHORT.get(algo, str(algo))


def names(lanes: dict) -> dict[str, str]:
    """Lane -> its short name for a run's `lanes` (engine.Lane), told apart by side where two are alike."""
    out = {lane: short(l.generator.record) for lane, l in lanes.items()}
    if len(set(out.values())) < len(out):
        out = {lane: f"{n} ({'left' if lane == 'meta' else 'right'})" for lane, n in out.items()}
    return out


def guidance(record: dict) -> float:
    return float(record.get("sampling", {}).get("guidance", 1.0))


def architecture(record: dict) -> str:
    g = record.get("generator", {})
    ctx = g.get("ctx_channels", 0)
    context = (f"a {ctx}-channel {g.get('ctx_size', '')}x{g.get('ctx_size', '')} context"
               + (" that holds a sketch" if g.get("ctx_sketch") else "")) if ctx else "no context"
    return f"UNet {tuple(g.get('block_out_channels', ()))}, {context}"


def loop_words(cfg: InnerConfig) -> str:
    start = "; starts from your examples' average" if cfg.init_context == "template" else ""
    return (f"adapts {ADAPTS[cfg.adapt]} with {cfg.optimizer}, inner_lr {cfg.inner_lr:g}, timesteps "
            f"{cfg.t_min}-{cfg.t_max}, {cfg.noise_draws} noise draw(s) per example{start}")


def lane_configs(models: Models, pair: Pairing, inner_lr=None) -> dict[str, InnerConfig]:
    """Each lane's inner loop: with a same-loop pairing both run the selected checkpoint's (inner_lr, when
    given, overrides it for both); otherwise each its own, inner_lr overriding only the selected one's."""
    meta = inner_config(models.records[pair.meta], inner_lr=inner_lr)
    configs = {"meta": meta}
    if pair.baseline:
        configs["baseline"] = meta if pair.same_loop else inner_config(models.records[pair.baseline])
    return configs


def differences(models: Models, pair: Pairing, configs: dict[str, InnerConfig]) -> list[str]:
    """What differs between the two lanes besides how they were trained, in plain words."""
    a, b = models.records[pair.meta], models.records[pair.baseline]
    ca, cb = configs["meta"], configs["baseline"]
    out = []
    if a.get("generator") != b.get("generator"):
        out.append("architecture")
    if ca.adapt != cb.adapt:
        out.append(f"what learns (left: {ADAPTS[ca.adapt]}; right: {ADAPTS[cb.adapt]})")
    if ca.inner_lr != cb.inner_lr:
        out.append("learning rate")
    if (ca.optimizer, ca.t_min, ca.t_max, ca.noise_draws, ca.init_context) != \
            (cb.optimizer, cb.t_min, cb.t_max, cb.noise_draws, cb.init_context):
        out.append("other step settings")
    if guidance(a) != guidance(b):
        which = "left" if guidance(a) != 1.0 else "right"
        out.append(f"guided sampling ({which} only)")
    return out


def comparison(models: Models, checkpoint: str, inner_lr=None) -> str:
    """One or two sentences for the header: what each side is, and what differs between them."""
    pair = models.pairing(checkpoint)
    left = models.records[checkpoint]
    if not pair.baseline:
        return f"**The generator:** {how_trained(left)}; there is no second start to compare it with."
    right = models.records[pair.baseline]
    sides = f"**Left:** {how_trained(left)}. **Right:** {how_trained(right)}."
    diff = differences(models, pair, lane_configs(models, pair, inner_lr))
    if (left.get("warm_start") or {}).get("checkpoint") == pair.baseline and left.get("iterations"):
        sides += (f" The left one is the right one after {left['iterations']:,} further iterations of training"
                  + (" through the inner loop." if meta_learned(left) else "."))
    if pair.same_loop and not diff:
        return (f"{sides} Same architecture, same learning steps on your examples, same noise: the two differ "
                "only by the outer loop.")
    if pair.same_loop:
        return f"{sides} Same architecture and the same learning steps; they also differ in {', '.join(diff)}."
    what = ", ".join(diff) if diff else "nothing else"
    return f"{sides} Besides how they were trained, they differ in {what} (Details)."


def lane_details(models: Models, checkpoint: str, inner_lr=None) -> str:
    """The Details panel's account of each lane: checkpoint, training, architecture, inner loop, guidance."""
    pair = models.pairing(checkpoint)
    configs = lane_configs(models, pair, inner_lr)

    def line(side, name, cfg):
        r = models.records[name]
        guided = f"; samples guided x{guidance(r):g}" if guidance(r) != 1.0 else ""
        return (f"- **{side}: {title(r)}** (`{name}`): {how_trained(r)}. {architecture(r)}. "
                f"Its learning steps: {loop_words(cfg)}{guided}.")

    lines = [line("Left", checkpoint, configs["meta"])]
    if pair.baseline:
        lines.append(line("Right", pair.baseline, configs["baseline"]))
    wanted = models.records[checkpoint].get("compare_with")
    if pair.same_loop:
        note = (f"`{checkpoint}` names `{pair.baseline}` as its comparison: the right side runs the left side's "
                "inner loop (the learning-rate box changes both).")
    elif pair.named:
        note = (f"`{checkpoint}` names `{pair.baseline}` as its comparison, but their architectures differ, so each "
                "runs its own inner loop (the learning-rate box changes the left one's).")
    elif pair.baseline:
        missing = f"`{wanted}`, the comparison named in its training.json, is not installed, so t" if wanted else "T"
        note = (f"{missing}he right side is the ordinary (joint) checkpoint with its own inner loop, from its own "
                "training.json; the learning-rate box changes the left one's.")
    else:
        note = "No comparison checkpoint is installed for this one, so it runs alone."
    return "\n".join([note, *lines, "Both sides see the same examples, the same seed and the same noise."])
