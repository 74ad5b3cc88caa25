"""Style codes: computed once per reference, with the run's thread count whatever the process had."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from mesynth.synthesis.networks import StyleCodes

from .conftest import tiny_nets


def test_a_style_code_does_not_depend_on_the_threads_the_process_had(reference_image):
    # Every rank encodes the references itself, before the predict loop sets its threads: with
    # the process's own count the code moved by a few float32 steps, and with it single pixels
    # of the frames of one rank against a run of one process.
    networks = SimpleNamespace(nets=tiny_nets(w_hpf=1.0))
    before = torch.get_num_threads()
    try:
        codes, loose = {}, {}
        for threads in (2, 1):
            torch.set_num_threads(threads)
            codes[threads] = StyleCodes(networks, "none", num_threads=1)(reference_image, 1)
            assert torch.get_num_threads() == threads  # the process keeps its own count
            loose[threads] = StyleCodes(networks, "none")(reference_image, 1)
    finally:
        torch.set_num_threads(before)
    # Without a fixed count the summation order, and so the code, follows the process.
    assert not torch.equal(loose[1], loose[2])
    assert torch.equal(codes[1], codes[2]) and torch.equal(codes[1], loose[1])
