"""Photo sources: domains and identities named in CSV files."""

from __future__ import annotations

from mesynth.prepare.report import read_csv
from mesynth.prepare.run import prepare
from tests.prepare.conftest import EXPECTED, settings


def test_domains_and_identities_from_csv(photo_tree, tmp_path):
    domains = tmp_path / "domains.csv"
    people = [key for key in EXPECTED if key.startswith("people/")]
    domains.write_text(
        "file,domain\n" + "".join(f"{k},{'a' if i % 2 else 'b'}\n" for i, k in enumerate(people))
    )
    identities = tmp_path / "identities.csv"
    identities.write_text(
        "file,identity\n" + "".join(f"{k},p{i // 2}\n" for i, k in enumerate(people))
    )
    out = tmp_path / "out"
    prepare(settings(photo_tree, out, domains_csv=domains, identities_csv=identities, val=0.5))
    rows = read_csv(out / "prepared.csv")
    assert [row["file"] for row in rows] == sorted(people)
    sides: dict[str, set[str]] = {}
    for row in rows:
        sides.setdefault(row["identity"], set()).add(row["split"])
        assert row["output"].startswith(f"{row['split']}/{row['domain']}/people/")
    assert all(len(splits) == 1 for splits in sides.values()), sides
    assert {"train", "val"} == set().union(*sides.values())
