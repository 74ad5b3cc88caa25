"""mesynth: synthetic long videos of facial micro- and macro-expressions (SAMM-SYNTH)."""

__version__ = "0.1.0"
