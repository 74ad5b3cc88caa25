"""mesynth: synthetic long videos of facial micro- and macro-expressions (SAMM-SYNTH)."""

from mesynth.console import quiet_third_party

__version__ = "0.1.0"

quiet_third_party()
