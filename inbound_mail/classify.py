"""What kind of mail this is, before any ticket is touched.

The order matters: our own mail coming back is dropped before anything else looks at it (a
notification we sent to an address that forwards to the support address would otherwise open
a ticket that sends a notification ...); the spam list comes next; then delivery status
notifications and other auto-generated mail (RFC 3834), which may be filed on a ticket but
never start, reopen or answer one.
"""

from dataclasses import dataclass

from django.conf import settings

from inbound_mail import selectors
from inbound_mail.parsing import ParsedMessage

NORMAL = "normal"
LOOP = "loop"
NO_SENDER = "no_sender"
SPAM = "spam"
BOUNCE = "bounce"
AUTO = "auto"


@dataclass(frozen=True)
class Verdict:
    kind: str
    reason: str = ""


def sender_address(parsed: ParsedMessage) -> str:
    """Who wrote it: From, else Sender, else Reply-To (broken clients omit From)."""
    for candidate in (parsed.from_, parsed.sender, *parsed.reply_to):
        if candidate is not None and "@" in candidate.address:
            return candidate.address.lower()
    return ""


def is_our_own(parsed: ParsedMessage) -> bool:
    """Our Message-IDs end in @MAIL_DOMAIN; a message carrying one is mail we sent."""
    return parsed.message_id.lower().endswith("@" + settings.MAIL_DOMAIN.lower())


def classify(parsed: ParsedMessage, *, spam_rule_for=selectors.spam_rule_for) -> Verdict:
    """`spam_rule_for(address)` finds the rule that rejects a sender (the batch passes its own)."""
    if is_our_own(parsed):
        return Verdict(LOOP, f"loop: our own message <{parsed.message_id}> came back")
    sender = sender_address(parsed)
    if not sender and parsed.bounce is None:
        return Verdict(NO_SENDER, "no sender address (From, Sender, Reply-To): nobody to answer")
    rule = spam_rule_for(sender) if sender else None
    if rule is not None:
        return Verdict(
            SPAM, f"spam: {rule.get_kind_display().lower()} {rule.value} is on the spam list"
        )
    if parsed.bounce is not None:
        return Verdict(BOUNCE, "delivery status notification")
    if parsed.auto_generated:
        return Verdict(AUTO, f"auto-generated: {parsed.auto_reason}")
    return Verdict(NORMAL)
