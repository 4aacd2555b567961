"""Measurements and artefacts of the studio: `python -m demo.tools.bench | load | soak | screenshot`."""
