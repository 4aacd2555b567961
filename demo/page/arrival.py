"""What a visit opens with: the state a shared link asks for (else the first built-in example set), and,
where one was pre-computed for exactly these weights, a run of that set playing at once, before anyone
presses Run (also when a visitor picks another built-in set). Plus the link to share the current state."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import gradio as gr

from demo.runtime.checkpoints import Models
from demo.runtime.first_run import DEFAULT, FirstRuns
from demo.runtime.link import read_link
from demo.runtime.render import sample_grid, status_line
from demo.runtime.session import Session

from .handlers import chart_update
from .switch import first_set

PLAY_EVERY = 0.25  # seconds between pre-computed frames
# the current state as a link: this page's address with ?set=&checkpoint=&steps=&seed= (computed in the browser)
LINK_JS = """(set, checkpoint, steps, seed) => {
  const q = new URLSearchParams();
  if (set) q.set('set', set);
  if (checkpoint) q.set('checkpoint', checkpoint);
  q.set('steps', steps); q.set('seed', seed);
  return window.location.origin + window.location.pathname + '?' + q.toString(); }"""


class Playback:
    """Per visitor (a gr.State): which playback is current; a newer one (or a run) ends the older."""

    def __init__(self):
        self.token = 0


@dataclass
class ShareBox:
    link: gr.Textbox
    note: gr.Markdown


def create_share_box() -> ShareBox:
    link = gr.Textbox(label="Link to this example set, generator, inner steps and seed (copy it to share)", max_lines=1,
                      interactive=False, buttons=["copy"], elem_id="share-link")
    note = gr.Markdown(visible=False, elem_id="link-note")
    return ShareBox(link, note)


def status_text(name: str, frame, steps: int, names: dict, done: bool) -> str:
    return (f"{status_line(frame, steps, names, done=done)} · a pre-computed run of the example set *{name}*, made "
            f"with these exact weights and settings. Press **Run** to adapt live, or bring your own examples.")


def only(frame, lanes):
    """The frame with just these lanes (the comparison lane left out when its tick box is off)."""
    keep = lambda d: {k: v for k, v in d.items() if k in lanes}  # noqa: E731
    return replace(frame, samples=keep(frame.samples), support_loss=keep(frame.support_loss),
                   query_loss=keep(frame.query_loss), likeness=keep(frame.likeness))


def play(first_runs: FirstRuns, checkpoint, name, steps, seed, session: Session, playback: Playback, head=(),
         baseline: bool = True):
    """Stream the stored run (grids, live chart, status) after `head` (the first update's other outputs), if there
    is one and no run of the visitor's is going; a stored frame without a likeness score leaves the chart empty."""
    playback.token += 1
    token, run_id = playback.token, session.run_id
    settings = replace(DEFAULT, inner_steps=int(steps), seed=int(seed))
    stored = first_runs.find(checkpoint, name, settings) if name and not session.running else None
    if stored is None:
        if head:
            yield (*head, *(gr.skip(),) * 4)
        return
    lanes = [lane for lane in stored.names if baseline or lane != "baseline"]
    frames = [only(f, lanes) for f in stored.frames]
    names = {lane: stored.names[lane] for lane in lanes}
    for k, frame in enumerate(frames):
        if k and (playback.token != token or session.run_id != run_id):  # a newer playback, a run or a reset took over
            return
        base = frame.samples.get("baseline")
        out = (sample_grid(frame.samples["meta"]), sample_grid(base) if base is not None else None,
               chart_update(frames[: k + 1], settings.inner_steps, names, stored.ceiling),
               status_text(name, frame, settings.inner_steps, names, k == len(frames) - 1))
        yield (*(head if k == 0 else (gr.skip(),) * len(head)), *out)
        time.sleep(PLAY_EVERY)


def wire_arrival(demo: gr.Blocks, models: Models, first_runs: FirstRuns, domain: str, session: gr.State, examples, run,
                 share: ShareBox) -> None:
    """demo.load: the link's state (or the defaults), then the stored run; the set dropdown plays too; the link follows."""
    playback = gr.State(Playback())
    stale = first_runs.stale()  # also computes the fingerprints now, so the first visitor does not wait for them
    if stale:
        print(f"Pre-computed runs made with other weights are not played ({', '.join(stale)}): "
              f"regenerate them with `python -m demo.tools.precompute`.")
    live = [run.meta_grid, run.baseline_grid, run.plot, run.status]

    def arrive(s: Session, p: Playback, request: gr.Request):
        link, notes = read_link(getattr(request, "query_params", None), models, domain)
        example_set, gallery, caption = first_set(models, domain, s, link.example_set)
        note = gr.update(value="**Link:** " + " ".join(notes) + " Those parts were ignored." if notes else "",
                         visible=bool(notes))
        # the checkpoint list offers every checkpoint to the API; on the page, only this domain's
        head = (example_set, gallery, caption, gr.update(choices=models.choices(domain), value=link.checkpoint),
                link.inner_steps, link.seed, note)
        yield from play(first_runs, link.checkpoint, link.example_set, link.inner_steps, link.seed, s, p, head)

    demo.load(arrive, [session, playback], [examples.example_set, examples.gallery, examples.caption, run.checkpoint,
                                            run.inner_steps, run.seed, share.note, *live],
              api_visibility="private", concurrency_limit=None)

    def on_set(name, checkpoint, steps, seed, baseline, s: Session, p: Playback):
        yield from play(first_runs, checkpoint, name, steps, seed, s, p, baseline=baseline)

    examples.example_set.input(on_set, [examples.example_set, run.checkpoint, run.inner_steps, run.seed, run.baseline,
                                        session, playback], live, api_visibility="private", concurrency_limit=None)
    state = [examples.example_set, run.checkpoint, run.inner_steps, run.seed]
    demo.load(None, state, share.link, js=LINK_JS, queue=False)  # the defaults' link (a link's own state changes them)
    for c in state:
        c.change(None, state, share.link, js=LINK_JS, queue=False, api_visibility="private")
