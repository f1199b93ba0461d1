"""A folder of hostile input, generated at test time: good files of every supported kind next to
everything that must become a reject (special files, broken links, unreadable entries, bad
bytes, bombs, bad records, repeated ids).

`write_hostile_folder` returns what each input item must become: "document" or a reject reason,
keyed by the item's path relative to the folder plus its record (`feed.jsonl#L2`). Which
entries are unreadable depends on who reads: root bypasses file permissions unless capsh drops
that capability, so the expectation takes `permissions_apply`.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

_ARTICLE = (
    "{title}\n\n"
    "Officials from Berlin and Nairobi met on Tuesday to discuss {topic}. The talks lasted "
    "three hours and ended with a joint statement.\n\n"
    "A second meeting is planned in Osaka next month, a spokesperson said.\n"
)
# Sizes above the read limits (50 MB; gzip files also stop at 64 MiB decompressed).
HUGE_BYTES = 60_000_000
BOMB_BYTES = 70 * 1024 * 1024


def article(topic: str) -> str:
    return _ARTICLE.format(title=f"Talks on {topic}", topic=topic)


@dataclass
class HostileFolder:
    root: Path
    # item key -> "document" or reject reason, when root's permission override is dropped
    expected: dict[str, str]
    # item key -> outcome instead, when the reader bypasses file permissions (root)
    as_root: dict[str, str]
    skipped: list[str] = field(default_factory=list)  # present, but no input item by design

    def expectation(self, *, permissions_apply: bool) -> dict[str, str]:
        if permissions_apply:
            return dict(self.expected)
        locked = {k: v for k, v in self.expected.items() if v not in _PERMISSION_REASONS}
        return {**locked, **self.as_root}

    def restore_permissions(self) -> None:
        """Let pytest remove the folder afterwards."""
        for path in (self.root / "locked", self.root / "secret.txt"):
            path.chmod(0o755)


_PERMISSION_REASONS = frozenset({"unreadable", "unreadable_folder"})


def write_hostile_folder(root: Path) -> HostileFolder:
    root.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str] = {}

    def put(name: str, data: bytes | str, outcome: str | None = None) -> Path:
        """Write a file; `outcome` is what the file, as one item, must become."""
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        if outcome is not None:
            expected[name] = outcome
        return path

    # Good files of every supported kind.
    put("good.txt", article("trade"), "document")
    put("notes.md", "# Notes on energy\n\n" + article("energy").split("\n\n", 1)[1], "document")
    html = (
        "<html><head><title>Talks on water</title></head><body><article>"
        + "".join(f"<p>{p}</p>" for p in article("water").split("\n\n")[1:])
        + "</article></body></html>"
    )
    put("page.html", html, "document")
    put("zipped.txt.gz", gzip.compress(article("fishing").encode()), "document")
    rows = "id,title,text\nc1,Rail,{}\nc2,Roads,{}\n".format(
        json.dumps(article("rail")), json.dumps(article("roads"))
    )
    put("table.csv", rows)
    expected.update({"table.csv#R2": "document", "table.csv#R3": "document"})
    lines = [
        json.dumps({"id": "j1", "text": article("health")}),
        '{"id": "j2", "text": "an unterminated',  # malformed JSON line
        json.dumps({"id": "j3", "title": "No text field"}),
        json.dumps({"id": "5", "text": article("ports")}),
        json.dumps({"id": 5, "text": article("ports, again")}),  # "5" and 5 are one id
        json.dumps({"id": "j1", "text": article("health, again")}),  # repeated id
    ]
    put("feed.jsonl", "\n".join(lines) + "\n")
    outcomes = ["document", "malformed_json", "missing_text", "document"]
    outcomes += ["duplicate_id", "duplicate_id"]
    expected.update({f"feed.jsonl#L{n}": o for n, o in enumerate(outcomes, start=1)})
    zipped_lines = [json.dumps({"id": f"z{n}", "text": article(f"zone {n}")}) for n in (1, 2)]
    put("feed2.jsonl.gz", gzip.compress(("\n".join(zipped_lines) + "\n").encode()))
    expected.update({"feed2.jsonl.gz#L1": "document", "feed2.jsonl.gz#L2": "document"})

    # Bytes that are text after all.
    put("utf16.txt", article("schools").encode("utf-16-le"), "document")  # no BOM
    put("latin1.txt", "Un café naïf à Noël.\n".encode("latin-1"), "document")
    mixed = "Le café\n\n".encode() + "Un garçon naïf.\n".encode("latin-1")
    put("mixed.txt", mixed, "document")

    # Bytes that are not documents.
    put("empty.txt", b"", "empty")
    put("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 64, "binary")
    with gzip.open(root / "bomb.txt.gz", "wb", compresslevel=9) as bomb:
        zeros = bytes(1 << 20)
        for _ in range(BOMB_BYTES >> 20):
            bomb.write(zeros)
    expected["bomb.txt.gz"] = "too_large"
    with open(root / "huge.txt", "wb") as huge:
        huge.truncate(HUGE_BYTES)  # sparse: costs no disk
    expected["huge.txt"] = "too_large"

    # Entries that are not regular files.
    os.mkfifo(root / "pipe.txt")
    expected["pipe.txt"] = "special_file"
    (root / "loop.txt").symlink_to("loop.txt")
    expected["loop.txt"] = "symlink_loop"
    (root / "dangling.txt").symlink_to("nowhere.txt")
    expected["dangling.txt"] = "dangling_symlink"
    (root / "sub").mkdir()
    put("sub/deep.txt", article("mining"), "document")
    (root / "sub" / "back").symlink_to("..")
    expected["sub/back"] = "symlink_loop"
    (root / "alias.txt").symlink_to("good.txt")  # the same file as good.txt: one item

    # Unreadable entries (for a reader that cannot bypass permissions).
    put("secret.txt", article("budgets"), "unreadable").chmod(0)
    put("locked/one.txt", article("ports"))
    put("locked/two.txt", article("roads"))
    (root / "locked").chmod(0)
    expected["locked"] = "unreadable_folder"
    as_root = {"secret.txt": "document", "locked/one.txt": "document", "locked/two.txt": "document"}

    # Present, but not input items: an unsupported suffix and a hidden file.
    (root / "image.png").write_bytes(b"\x89PNG\r\n")
    (root / ".hidden.txt").write_text("hidden")
    return HostileFolder(root, expected, as_root, skipped=["image.png", ".hidden.txt"])


def item_key(source_uri: str, root: Path) -> str:
    """`feed.jsonl#L2` for file:///<root>/feed.jsonl#L2."""
    from urllib.parse import unquote, urlparse

    location, hash_mark, record = source_uri.partition("#")
    return os.path.relpath(unquote(urlparse(location).path), root) + hash_mark + record


def plan_and_read(root: Path) -> dict[str, list[str]]:
    """Plan the folder as a batch and read every planned item, as the flow's first pass does:
    item key -> [outcome, detail], outcome "document" or the reject reason. Raises if an item
    is accounted for twice."""
    from docmill.tasks.ingest.read import plan_items, read_items
    from docmill.tasks.ingest.sources import resolve_sources
    from docmill.tasks.passes.plan import plan_batch
    from docmill.tasks.records import ItemRejected

    root = root.resolve()
    plan = plan_batch("hostile", plan_items(resolve_sources([str(root)])))
    outcomes = [(r.source_uri, [r.reason, r.detail]) for r in plan.rejects]
    for item, outcome in read_items(plan.items):
        rejected = isinstance(outcome, ItemRejected)
        result = [outcome.reason, outcome.detail] if rejected else ["document", ""]
        outcomes.append((item.source_uri, result))
    found = {item_key(uri, root): result for uri, result in outcomes}
    if len(found) != len(outcomes) or len(outcomes) != plan.n_input:
        raise AssertionError(f"{len(outcomes)} outcomes for {plan.n_input} items: {outcomes}")
    return found


if __name__ == "__main__":  # used by tests under capsh: python hostile_inputs.py FOLDER
    import sys

    print(json.dumps(plan_and_read(Path(sys.argv[1]))))
