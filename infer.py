"""Hydra entry point; see `conf/infer.yaml` for every setting and its default."""

from mesynth.cli import infer_main

if __name__ == "__main__":
    infer_main()
