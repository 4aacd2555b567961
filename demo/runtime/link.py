"""A shareable link's state: `?set=Knot&checkpoint=glyphs-cavia&steps=20&seed=3` opens the studio with
that example set, generator, number of inner steps and seed. Each parameter is checked on its own; a bad
one is ignored with a note (never an error page), and the rest still apply."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from .checkpoints import Models
from .first_run import DEFAULT
from .request import whole_number
from .shots import example_sets

PARAMS = ("set", "checkpoint", "steps", "seed")


@dataclass
class Link:
    example_set: str | None
    checkpoint: str
    inner_steps: int = DEFAULT.inner_steps
    seed: int = DEFAULT.seed

    def query(self) -> str:
        return urlencode({k: v for k, v in zip(PARAMS, (self.example_set, self.checkpoint, self.inner_steps, self.seed))
                          if v is not None})


def shown(value) -> str:
    """A visitor-supplied value, safe to quote in a note: printable, no markup, at most 40 characters."""
    text = "".join(c for c in str(value) if c.isprintable() and c not in "`<>*_[]\\")
    return text[:40] + ("..." if len(text) > 40 else "")


def _number(label: str, text: str) -> int:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{label} must be a whole number, got '{shown(text)}'.") from None
    return whole_number(label, value)


def read_link(query, models: Models, domain: str) -> tuple[Link, list[str]]:
    """Query parameters (a mapping of str -> str) -> the state to open with, and notes on what was ignored."""
    sets = list(example_sets(domain))
    link, notes = Link(sets[0] if sets else None, models.defaults[domain]), []
    query = dict(query or {})
    if "set" in query:
        if query["set"] in sets:
            link.example_set = query["set"]
        else:
            notes.append(f"The link's example set '{shown(query['set'])}' is not one of {', '.join(sets)}.")
    if "checkpoint" in query:
        mine = [n for _, n in models.choices(domain)]
        if query["checkpoint"] in mine:
            link.checkpoint = query["checkpoint"]
        else:
            notes.append(f"The link's checkpoint '{shown(query['checkpoint'])}' is not installed here (one of {', '.join(mine)}).")
    for key, label, field in (("steps", "Inner steps", "inner_steps"), ("seed", "Seed", "seed")):
        if key in query:
            try:
                setattr(link, field, _number(label, query[key]))
            except ValueError as err:
                notes.append(f"The link's {key}: {err}")
    unknown = sorted(k for k in query if k not in PARAMS and not k.startswith("_"))  # "__theme" etc. are Gradio's own
    if unknown:
        notes.append(f"Unknown link parameter{'s' if len(unknown) > 1 else ''} {', '.join(shown(k) for k in unknown[:5])} "
                     f"(the studio reads {', '.join(PARAMS)}).")
    return link, notes
