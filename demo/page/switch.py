"""The page's fresh states: arrival, Reset, and the domain switch (handwritten glyphs <-> colour icons).

Reset and the switch both give the page as it is after loading, in a domain: its first built-in
set as the examples (Run works at once), its default checkpoint and the lane beside it (titles,
header, Details), the domain's brush on a fresh pad, the default number of steps, and no run
(a running one stops and leaves the outputs alone; downloads are inert again). The switch is hidden
when only one domain is shipped.

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
from demo.runtime.lanes import comparison, lane_details
from demo.runtime.render import CEILING, loss_curves
from demo.runtime.session import Session
from demo.runtime.shots import example_sets

from .handlers import cleared_review, empty_chart
from .inputs import brush, intro, show_shots, use_example_set
from .run import DEFAULT_STEPS, READY, credit_markdown, lane_titles

# the outputs of a fresh page, in order (app.py passes the components in this order)
PAGE = ("header", "heading", "example_set", "gallery", "caption", "sketch", "upload", "checkpoint", "inner_lr",
        "lane_info", "credit", "meta_title", "baseline_title", "baseline", "inner_steps", "meta_grid",
        "baseline_grid", "plot", "status", "before_after", "step", "filmstrip", "zip", "losses")


def header(models: Models, checkpoint: str) -> str:
    d = DOMAINS[models.domain(checkpoint)]
    return f"""
<div id="title">

# Inner Loop · {d.title}

Give it a few {d.examples} it has never seen and press **Run**. Two generators learn from your examples
side by side, step by step, sampling from the same noise: watch which one starts drawing *your* {d.noun}.
{comparison(models, checkpoint)}
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


def first_set(models: Models, domain: str, session: Session, name: str | None = None):
    """The domain's built-in set `name` (default: its first) as the session's examples -> (example-set
    dropdown, gallery, caption)."""
    names = list(example_sets(domain))
    name = name if name in names else (names[0] if names else None)
    session.domain, session.shots, session.source = domain, [], None
    if name:
        use_example_set(name, session)
    return (gr.update(choices=names, value=name), *show_shots(session))


def fresh_page(models: Models, domain: str, session: Session, status: str = READY) -> tuple:
    """The page as after loading, in `domain`: one value per name in PAGE."""
    if domain not in models.defaults:
        raise gr.Error(f"Unknown domain {domain!r}: one of {models.shipped_domains()}.")
    session.run_id += 1  # a running run stops and leaves the outputs alone
    drawn = list(session.names.values())  # the curves the charts show, if a run drew them
    session.clear_run()
    example_set, gallery, caption = first_set(models, domain, session)
    checkpoint = models.defaults[domain]
    left, right, paired = lane_titles(models, checkpoint)
    return (header(models, checkpoint), intro(domain), example_set, gallery, caption,
            gr.update(value=None, brush=brush(domain)), None, checkpoint_update(models, domain),
            inner_config(models.records[checkpoint]).inner_lr, lane_details(models, checkpoint),
            credit_markdown(models, checkpoint), left, right, gr.update(value=paired, interactive=paired),
            DEFAULT_STEPS, None, None, empty_chart([*drawn, CEILING] if drawn else [], "percent"), status,
            *cleared_review(), empty_chart([c for n in drawn for c in loss_curves(n)], "loss"))


def switch_domain(models: Models, domain: str, session: Session) -> tuple:
    if domain not in models.defaults:
        raise gr.Error(f"Unknown domain {domain!r}: one of {models.shipped_domains()}.")
    status = f"Now learning {DOMAINS[domain].label.lower()}: the first built-in set is ready, press **Run**."
    return fresh_page(models, domain, session, status)


def reset(models: Models, session: Session) -> tuple:
    """Reset: the page as after loading, in the domain it shows."""
    return fresh_page(models, session.domain, session, "Reset: the page is as it was when it opened. " + READY)
