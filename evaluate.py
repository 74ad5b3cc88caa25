"""Hydra entry point; see `conf/evaluate.yaml` for every setting and its default."""

from mesynth.cli import evaluate_main

if __name__ == "__main__":
    evaluate_main()
