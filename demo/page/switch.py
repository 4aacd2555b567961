"""The domain switch: handwritten glyphs <-> colour icons, per session.

Switching sets the session's domain (how uploads and drawings are read), replaces its examples with
the new domain's first built-in set (so no glyph shot can reach an icon generator, and Run works at
once), narrows the checkpoint list to the domain's and selects its default, puts the domain's joint
baseline beside it, gives the drawing pad the domain's brush, and clears the last run (a running one
stops and leaves the outputs alone). The switch is hidden when only one domain is shipped.

A world whose meta-learned start does not yet beat its ordinary baseline on the project's measures
(EXPERIMENTAL: the colour icons) is not offered by default: the switch appears only once the visitor
ticks "Experimental" (ticked from the start with INNER_LOOP_EXPERIMENTAL_ICONS=1). The API still
accepts every shipped checkpoint.
"""
from __future__ import annotations

import os

import gradio as gr

from demo.runtime.checkpoints import Models, inner_config
from demo.runtime.domains import DOMAINS, ICONS
from demo.runtime.session import Session
from demo.runtime.shots import example_sets

from .handlers import cleared_review
from .inputs import brush, intro, use_example_set
from .run import credit_markdown, describe_lanes


def header(domain: str) -> str:
    d = DOMAINS[domain]
    return f"""
<div id="title">

# Inner Loop · {d.title}

Give it a few {d.examples} it has never seen and press **Run**. **Left:** a diffusion generator whose
*starting point* was meta-learned so that a few gradient steps are enough. **Right:** the same network trained the
ordinary way. Both take the same steps on your examples, from the same noise; watch which one starts drawing *your* {d.noun}.
</div>
"""


EXPERIMENTAL_ENV = "INNER_LOOP_EXPERIMENTAL_ICONS"
EXPERIMENTAL = (ICONS,)  # the meta-learned start does not beat its baseline on the honest measures (README, Colour icons)
# unticking "Experimental" while in such a world goes back to the first world (a click on its option fires the switch)
BACK_TO_FIRST = """(on) => { if (!on) { const first = document.querySelector('#domain input[type=radio]');
  if (first && !first.checked) first.click(); } return on; }"""


def experimental_on() -> bool:
    return os.environ.get(EXPERIMENTAL_ENV, "").strip().lower() not in ("", "0", "false", "no")


def create_domain_switch(models: Models) -> gr.Radio:
    shipped = models.shipped_domains()
    gated = [d for d in shipped[1:] if d in EXPERIMENTAL]  # the first world is where the studio opens: always offered
    on = experimental_on()
    toggle = None
    if gated:
        names = " and ".join(DOMAINS[d].label.lower() for d in gated)
        toggle = gr.Checkbox(on, label=f"Experimental: also offer {names} (the meta-learned start does not yet beat the "
                                       f"ordinary one there on our measures)", elem_id="experimental", container=False)
    label = lambda d: DOMAINS[d].label + (" (experimental)" if d in gated else "")
    radio = gr.Radio([(label(d), d) for d in shipped], value=shipped[0], label="What to learn",
                     visible=len(shipped) > 1 and (on or not gated), elem_id="domain", container=False)
    if toggle is not None:
        toggle.change(lambda show: gr.update(visible=show), toggle, radio, js=BACK_TO_FIRST, queue=False,
                      api_visibility="private")
    return radio


def checkpoint_update(models: Models, domain: str):
    return gr.update(choices=models.choices(domain), value=models.defaults[domain])


def switch_domain(models: Models, domain: str, session: Session):
    """-> header, examples heading, example-set dropdown, gallery, sketch, upload, checkpoint, inner_lr,
    lane info, credit, baseline checkbox, then the run's live and review outputs (cleared)."""
    if domain not in models.defaults:
        raise gr.Error(f"Unknown domain {domain!r}: one of {models.shipped_domains()}.")
    session.run_id += 1  # a running run stops and leaves the outputs alone
    session.clear_run()
    session.domain, session.shots = domain, []
    names = list(example_sets(domain))
    gallery = use_example_set(names[0], session)
    checkpoint, joint = models.defaults[domain], models.baselines[domain]
    status = f"Now learning {DOMAINS[domain].label.lower()}: the first example set is ready, press **Run**."
    return (header(domain), intro(domain), gr.update(choices=names, value=names[0]), gallery,
            gr.update(value=None, brush=brush(domain)), None, checkpoint_update(models, domain),
            inner_config(models.generators[checkpoint].record).inner_lr, describe_lanes(models, checkpoint),
            credit_markdown(models, checkpoint), gr.update(value=bool(joint), interactive=bool(joint)),
            None, None, None, status, *cleared_review())
