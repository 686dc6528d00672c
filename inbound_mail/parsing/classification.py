"""Bounce, auto-reply, forward and reply-text detection on a parsed message; each step is
guarded so that a bug in one heuristic keeps the rest of the parse."""

from __future__ import annotations

import logging
from email.message import Message
from typing import Any

from inbound_mail import autoreply, bounces, forwards, quoting
from inbound_mail.parsing.addresses import parse_addresses
from inbound_mail.parsing.headers import _header_str, _unfold
from inbound_mail.parsing.message import Address, ParsedMessage
from inbound_mail.parsing.mime import _Leaf, _raw_get, _Walk

logger = logging.getLogger(__name__)


def _classify(msg: ParsedMessage, root: Message, walk: _Walk) -> None:
    """Bounce, auto-reply, forward and reply text. Each step is guarded on its own: a
    bug in one heuristic must not throw away an otherwise good parse."""
    sender = msg.from_.address if msg.from_ else ""
    msg.bounce = _guarded(
        msg,
        lambda: bounces.find_bounce(
            root, walk.all_parts, sender=sender, subject=msg.subject, text=msg.text_full
        ),
        None,
    )
    reason = _guarded(
        msg,
        lambda: autoreply.classify(
            msg.headers, sender=sender, subject=msg.subject, text=msg.text_full
        ),
        "",
    )
    if not reason and msg.bounce is not None:
        reason = "delivery-status notification"
    msg.auto_generated = bool(reason)
    msg.auto_reason = reason
    msg.forwarded_from = _guarded(msg, lambda: _forwarded_from(msg, walk), None)
    # Forwarded mail is the content itself: keep it whole instead of cutting the
    # "Forwarded message" block as if it were quoted history.
    if msg.forwarded_from and msg.bounce is None:
        msg.text = _guarded(msg, lambda: quoting.strip_signature(msg.text_full), msg.text_full)
    else:
        msg.text = _guarded(msg, lambda: quoting.split_reply(msg.text_full), msg.text_full)


def _guarded(msg: ParsedMessage, step: Any, default: Any) -> Any:
    try:
        return step()
    except Exception as exc:
        logger.warning("inbound mail classification step failed: %r", exc)
        msg.defects.append(f"classification step failed: {type(exc).__name__}")
        return default


def _forwarded_from(msg: ParsedMessage, walk: _Walk) -> Address | None:
    attached = [_attached_from(leaf) for leaf in walk.attachments if leaf.is_message]
    raw_from = forwards.find_forwarded_sender(
        subject=msg.subject, text=msg.text_full, attached_from=attached
    )
    return next(iter(parse_addresses(raw_from)), None) if raw_from else None


def _attached_from(leaf: _Leaf) -> str:
    inner = leaf.inner_message()
    if inner is None:
        return ""
    return _unfold(_header_str(_raw_get(inner, "from"), ()))
