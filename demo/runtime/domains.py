"""The studio's two worlds: handwritten glyphs (1 channel) and colour icons (3 channels).

A checkpoint belongs to a *domain* by what it draws (its training.json: generator channels, data
set); each domain has its own preferred default, its own built-in example sets, its own way of
turning a picture into a shot and its own brush. Nothing here imports gradio.
"""
from __future__ import annotations

from dataclasses import dataclass

from meta.emoji import CREDITS

GLYPHS, ICONS = "glyphs", "icons"
TWEMOJI = CREDITS["twemoji"]


@dataclass(frozen=True)
class Domain:
    key: str
    label: str  # the switch's words
    noun: str  # one example: "glyph", "icon"
    preferred: tuple[str, ...]  # the default checkpoint, first one shipped (README "Results")
    brush: tuple[str, ...]  # drawing colours (the first is the default)
    title: str  # the page's heading
    intro: str  # what to bring, above the examples
    examples: str  # "a few <examples> it has never seen", in the page's heading
    judge: str  # the judge's folder under assets/ (demo/runtime/likeness.py)


DOMAINS = {
    GLYPHS: Domain(GLYPHS, label="Handwritten glyphs", noun="glyph",
                   preferred=("glyphs-cavia", "glyphs-autodecoder", "glyphs-reptile", "glyphs-fomaml"),
                   brush=("#000000",), title="watch a generator learn a new character",
                   intro="One to ten drawings of one new character.", examples="drawings of a character",
                   judge="judge"),
    ICONS: Domain(ICONS, label="Colour icons", noun="icon", preferred=("emoji-autodecoder", "emoji-reptile", "emoji-fomaml"),
                  brush=("#e53935", "#fb8c00", "#fdd835", "#43a047", "#1e88e5", "#8e24aa", "#6d4c41", "#212121"),
                  title="watch a generator learn a new colour icon",
                  intro="One to ten colour icons of one new kind of thing (a transparent or plain background works best). "
                        "Note: the colour generators are still early (~6,000 iterations): they draw rough objects on "
                        "white and pull colour and layout toward your set; a few samples take its shape (faces from "
                        "smileys), most do not yet (README, Colour icons).",
                  examples="colour icons of a kind of thing", judge="judge-emoji"),
}


def domain_of(record: dict) -> str:
    """ICONS for a 3-channel generator or one trained on emoji, else GLYPHS."""
    channels = record.get("generator", {}).get("channels", 1)
    return ICONS if channels == 3 or record.get("data", {}).get("dataset") == "emoji" else GLYPHS


def shots_domain(shots) -> str | None:
    """The domain of a list of shots by their shape: (32, 32) glyphs, (3, 32, 32) icons; None if empty."""
    return None if not len(shots) else (ICONS if shots[0].ndim == 3 else GLYPHS)


def credits(*records: dict) -> list[str]:
    """The data credits owed for showing these checkpoints' samples: training.json data.credit, and
    Twemoji's CC BY 4.0 wherever its images were involved (data or evaluation), each once."""
    out = []
    for record in records:
        credit = record.get("data", {}).get("credit")
        if credit and credit not in out:
            out.append(credit)
        involved = {k: v for k, v in record.items() if k not in ("generator", "_tensors")}
        if "twemoji" in repr(involved).lower() and not any("Twemoji" in c for c in out):
            out.append(TWEMOJI)
    return out


def credit_line(*records: dict) -> str:
    """One line of attribution for pictures made by these checkpoints ("" when none is owed: glyphs)."""
    owed = credits(*records)
    return "Generators trained on " + "; ".join(owed) if owed else ""
