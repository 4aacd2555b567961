"""The "How it works" panel: inner vs outer loop in plain words, the data, the measured results, credits."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from demo.runtime.domains import ICONS, credits

HOW = """
**What you watch: the inner loop.** Starting from a generator's parameters, it takes learning steps
(gradient descent) on *your* examples only (the *support* set): add noise to them, ask the generator to
predict the noise, nudge its parameters to predict it better. Depending on the checkpoint it nudges only
a small *context* the generator reads (CAVIA; in the sketch-context generators the context is also a
coarse 16x16 picture of the drawing, so each step visibly pulls it toward your examples' shape) or all
of its weights (MAML, Reptile). After every step the page draws samples from the same fixed noise, so
every change in a grid comes from the learning steps. Some generators also sample with *guidance*
(Details says which): on the noisiest sampler steps they predict the noise both with the learned
context and with a blank one, and move away from the blank, which firms up the character's shape.

**What happened before: the outer loop.** A *meta-learned* checkpoint (MAML, first-order MAML, Reptile)
was trained through that same inner loop, on thousands of small tasks (a few drawings of one character
each): its outer loop changed the *starting point* so that a few inner steps on a task's drawings
lower the loss on that character's held-out drawings (the *query*). Two kinds of start have no outer
loop: an *auto-decoder* learns one code (context) per training character together with the network, so
the network can draw any character from its code and the inner loop only has to find yours; an
*ordinary* (joint) generator is plain DDPM on all the drawings pooled, with no idea it will be adapted.

**Which two starts you see.** A meta-learned checkpoint may name its comparison in its training.json:
the same architecture trained without the outer loop. The default glyph pair is the auto-decoder
(right) and the same network after further training through the inner loop (left; the header says how long).
The right side runs exactly the left side's inner loop, so the two differ only by the outer loop.
Whether that pays is measured, not assumed: see the results below, which also say where it does not.
Otherwise the right side is the ordinary generator with its own inner loop, and the header says what
else differs. Details shows each side's checkpoint, training and settings.

**The data.** The shipped glyph generators were trained on 25 of the 30 *background* alphabets of
Omniglot (836 characters, each drawn by 20 people; the other 5 alphabets were held out for
validation). Your own characters, and Omniglot's 20 evaluation alphabets, were never seen in training.
The built-in example sets are glyphs of an invented script drawn by code (`meta/glyphs.py`).
"""

CREDITS = """
**Credits and licences.** Omniglot: Brenden Lake, Ruslan Salakhutdinov, Joshua Tenenbaum,
*Human-level concept learning through probabilistic program induction*, Science 2015; data under the
MIT licence (github.com/brendenlake/omniglot). Algorithms: MAML (Finn et al. 2017), Reptile (Nichol et
al. 2018), CAVIA (Zintgraf et al. 2019), FIGR (Clouâtre and Demers 2019), classifier-free guidance (Ho and
Salimans 2022). Generator: a diffusers
`UNet2DModel` (Apache-2.0) with DDPM training and DPM-Solver++ sampling. Built with Gradio and PyTorch.
"""

ICONS_HOW = """
**Colour icons.** The same machinery in colour: the image has 3 channels instead of 1 (and in the
sketch-context generator the sketch is a coarse colour picture). The colour generators were
meta-trained on emoji: a *task* is one Unicode emoji subgroup (say, all the fruit), its *shots* are a
few of that subgroup's emoji in one art style; some subgroups were held out for validation. Your
icons and the built-in colour example sets — icon families drawn by code (`meta/icons.py`) — were
never seen in training. Pictures are composited on white and cropped to their content, like the
training emoji, so a transparent or plain background works best.
"""

NO_RESULTS = "_Measured results will appear here once `assets/results.md` is written by the evaluation._"


def results_markdown(assets) -> str:
    """<!-- RESULTS --> The measured results, read from assets/results.md at start-up (no code change)."""
    path = Path(assets) / "results.md"
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return NO_RESULTS
    return text or NO_RESULTS


def icon_credits(models) -> str:
    """The data credits of every colour-icon checkpoint shipped ("" when none is)."""
    if models is None or ICONS not in models.shipped_domains():
        return ""
    owed = credits(*(r for n, r in models.records.items() if models.domain(n) == ICONS))
    return f"Colour icons: the colour generators were trained on {'; '.join(owed) or 'emoji'}."


def create_explain_panel(assets, models=None) -> gr.Accordion:
    icons = models is not None and ICONS in models.shipped_domains()
    with gr.Accordion("How it works", open=False, elem_id="how-it-works") as panel:
        gr.Markdown(HOW + (ICONS_HOW if icons else ""))
        gr.Markdown("#### Measured results")
        gr.Markdown(results_markdown(assets), elem_id="results")  # <- assets/results.md goes here
        gr.Markdown(CREDITS + (f"\n{icon_credits(models)}\n" if icons else ""))
    return panel
