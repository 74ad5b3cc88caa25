"""Shared test settings: small thread counts so parallel test runs stay responsive."""

from __future__ import annotations

import os

import torch

os.environ.setdefault("WANDB_MODE", "offline")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
