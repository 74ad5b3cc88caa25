"""Train/val splits: by identity (no person on both sides) or each domain its share."""

from __future__ import annotations

import numpy as np
import pytest

from mesynth.prepare.split import split_by_domain, split_faces


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_identity_split_never_puts_one_person_in_both(seed):
    rng = np.random.default_rng(seed)
    keys = [f"img{i:03d}.jpg" for i in range(200)]
    identities = {key: f"person{rng.integers(30)}" for key in keys}
    domains = {key: "glasses" if rng.random() < 0.4 else "no_glasses" for key in keys}
    splits = split_faces(keys, domains, identities, None, 0.2, seed)
    sides: dict[str, set[str]] = {}
    for key in keys:
        sides.setdefault(identities[key], set()).add(splits[key])
    assert all(len(side) == 1 for side in sides.values())
    for domain in ("glasses", "no_glasses"):
        members = [key for key in keys if domains[key] == domain]
        share = sum(splits[key] == "val" for key in members) / len(members)
        assert 0.08 <= share <= 0.3, (domain, share)
    assert splits == split_faces(keys, domains, identities, None, 0.2, seed)  # seeded


def test_without_identities_each_domain_gives_its_share_to_val():
    keys = [f"{d}/{i}.jpg" for d in ("a", "b") for i in range(10)]
    domains = {key: key[0] for key in keys}
    splits = split_by_domain(keys, domains, 0.3, seed=0)
    assert [sum(splits[k] == "val" for k in keys if k[0] == d) for d in "ab"] == [3, 3]
    assert split_by_domain(keys, domains, 0.3, seed=1) != splits
    assert set(split_by_domain(keys[:1], domains, 0.3, seed=0).values()) == {"train"}
