"""Messages from files: single messages (.eml and friends), mbox files, maildirs, folders.

An mbox file is recognised by its first line, the "From " separator (RFC 4155); no RFC 5322
message starts that way, because a header name is followed by a colon.
"""

import mailbox
from collections.abc import Iterator
from pathlib import Path


def is_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def is_maildir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def messages_in(path: Path) -> Iterator[tuple[str, bytes]]:
    """(label, raw bytes) for every message under path, in a stable order."""
    if path.is_dir():
        yield from _maildir(path) if is_maildir(path) else _folder(path)
    elif is_mbox(path):
        yield from _mbox(path)
    else:
        yield str(path), path.read_bytes()


def _folder(path: Path) -> Iterator[tuple[str, bytes]]:
    for child in sorted(path.iterdir()):
        if child.name.startswith("."):
            continue
        yield from messages_in(child)


def _maildir(path: Path) -> Iterator[tuple[str, bytes]]:
    box = mailbox.Maildir(path, factory=None, create=False)
    for key in sorted(box.keys()):
        yield f"{path}/{key}", box.get_bytes(key)


def _mbox(path: Path) -> Iterator[tuple[str, bytes]]:
    box = mailbox.mbox(path, factory=None, create=False)
    try:
        for index, key in enumerate(box.keys()):
            yield f"{path}#{index + 1}", box.get_bytes(key)
    finally:
        box.close()
