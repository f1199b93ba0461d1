"""Small generated news-like corpora for tests that need more than a handful of documents."""

from __future__ import annotations

import random
from pathlib import Path

_PEOPLE = ["Maria Lopez", "Kenji Watanabe", "Amara Okafor", "Lars Nilsson", "Priya Raman"]
_ORGS = ["the World Bank", "Siemens", "the United Nations", "Toyota", "Reuters"]
_PLACES = ["Berlin", "Nairobi", "Osaka", "Lima", "Toronto", "Madrid"]
_VERBS = ["met officials in", "announced a plan for", "opened an office in", "visited"]


def write_corpus(folder: Path, n_docs: int, *, seed: int = 7, sentences: int = 6) -> list[Path]:
    """`n_docs` text files with a title line and two paragraphs each, deterministic by `seed`."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(n_docs):
        body = []
        for _ in range(2):
            para = " ".join(
                f"{rng.choice(_PEOPLE)} of {rng.choice(_ORGS)} {rng.choice(_VERBS)} "
                f"{rng.choice(_PLACES)} on day {rng.randint(1, 28)}."
                for _ in range(sentences // 2)
            )
            body.append(para)
        title = f"Report {n}: {rng.choice(_PLACES)} talks continue"
        path = folder / f"doc_{n:05d}.txt"
        path.write_text(title + "\n\n" + "\n\n".join(body) + "\n")
        paths.append(path)
    return paths
