"""Hydra entry point; see `conf/train.yaml` for every setting and its default."""

from mesynth.cli import train_main

if __name__ == "__main__":
    train_main()
