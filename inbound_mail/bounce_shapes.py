"""Bounce shapes that are not a plain MTA explanation: what a bounce is (`Bounce`), whether a
message carries the marks of the mail system at all (`machine_made`), Amazon SES notification
mail (JSON, raw or wrapped in an SNS envelope), mailing-list managers' rejections and holds,
and whether a failure is permanent.

The rules follow what real senders do (docs/bounce-shapes.md lists every shape and its test):
- A bounce comes from the mail system: a system sender (MAILER-DAEMON, postmaster, "Mail
  Delivery System"), a null envelope sender (RFC 5321 4.5.5), Auto-Submitted (RFC 3834),
  multipart/report (RFC 6522), Exim's X-Failed-Recipients, a list manager, or a no-reply
  notifier such as Amazon SNS. A person's message that only talks about failed delivery, or
  forwards a bounce, has none of these and is never a bounce.
- SES (docs.aws.amazon.com/ses/latest/dg/notification-contents.html): "bounceType" Permanent
  or Transient decides permanence; "Delivery" notifications are not bounces.
- List managers (Mailman, Sympa, Majordomo, LISTSERV, ezmlm, Google Groups) answer a post by a
  non-member with a rejection (permanent, 5.7.1: not authorised) or a moderation hold (a delay).
"""

from __future__ import annotations

import email.message
import email.utils
import json
import re
from dataclasses import dataclass

from inbound_mail.autoreply import SYSTEM_LOCAL_PARTS

Message = email.message.Message


@dataclass
class Bounce:
    recipients: list[str]
    status: str
    action: str
    original_message_id: str
    # Set when the notice itself says the failure will pass (a full mailbox, SES "Transient").
    transient: bool = False

    @property
    def is_hard(self) -> bool:
        """The message was not delivered and will not be: our outgoing row is bounced."""
        return self.action == "failed"

    @property
    def is_permanent(self) -> bool:
        """The address itself is bad (RFC 3463 5.X.X, no sign of a passing condition): the
        only kind of bounce that may mark a contact undeliverable."""
        return self.is_hard and not self.transient and not self.status.startswith("4")


_LIST_MANAGERS = frozenset({"majordomo", "listserv", "sympa", "mailman", "ezmlm", "listproc"})
# Mailman 2 and 3 answer from LIST-owner@ or LIST-bounces@ (with VERP suffixes).
_LIST_SUFFIX_RE = re.compile(r"^(?P<list>.+?)-(?:owner|bounces)(?:[+=].*)?$")
_LIST_PREFIX_RE = re.compile(r"^owner-(?P<list>.+)$")
_NO_REPLY_RE = re.compile(r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|donotreply)(?:[-_.+].*)?$")
_NOTIFIER_DOMAINS = ("amazonses.com", "amazonaws.com")
_NOTIFIER_HEADERS = ("x-amz-sns-message-id", "x-ses-outgoing", "x-aws-outgoing")


def is_system_address(address: str) -> bool:
    return address.lower().split("@", 1)[0] in SYSTEM_LOCAL_PARTS


def is_system_sender(root: Message, sender: str) -> bool:
    """Mail from the mail system itself: mailer-daemon or postmaster, "Mail Delivery
    System", or no From address at all on a null envelope sender (RFC 5321 4.5.5)."""
    if is_system_address(sender) or (not sender and null_return_path(root)):
        return True
    name = str(root.get("from", "")).lower()  # "MAILER-DAEMON <>" (DragonFly DMA) too
    return "mail delivery" in name or "mailer-daemon" in name


def null_return_path(root: Message) -> bool:
    return str(root.get("return-path", "")).replace(" ", "") in ("<>", "<<>>")


def is_list_manager(sender: str) -> bool:
    local = sender.lower().split("@", 1)[0]
    return (
        local in _LIST_MANAGERS
        or bool(_LIST_SUFFIX_RE.match(local))
        or bool(_LIST_PREFIX_RE.match(local))
    )


def machine_made(root: Message, sender: str) -> bool:
    """Whether the message carries any mark of the mail system (see the module docstring).
    Without one, no wording makes a message a bounce: people quote and forward bounces."""
    auto = str(root.get("auto-submitted", "")).strip().lower()
    sender = sender.lower()
    domain = sender.rsplit("@", 1)[-1]
    return (
        is_system_sender(root, sender)
        or null_return_path(root)
        or bool(auto and not auto.startswith("no"))
        or "x-failed-recipients" in root
        or root.get_content_type() == "multipart/report"
        or is_list_manager(sender)
        or bool(_NO_REPLY_RE.match(sender.split("@", 1)[0]))
        or domain.endswith(_NOTIFIER_DOMAINS)
        or any(name in root for name in _NOTIFIER_HEADERS)
    )


_FORWARD_OR_REPLY_RE = re.compile(
    r"^\s*(?:\[[^\]]{0,40}\]\s*)?(?:re|fwd?|aw|wg|tr|sv|vs|rv|enc|odp|res|antw|回复|转发)\s*:",
    re.I,
)


def forwarded_or_replied(subject: str) -> bool:
    """A person passing a bounce on or answering one: "Fwd: Undeliverable: ..." or "Re:
    Delivery Status Notification"; MTAs never prefix their own subjects so."""
    return bool(_FORWARD_OR_REPLY_RE.match(subject))


# --------------------------------------------------------------------------- permanence

_TRANSIENT_RE = re.compile(
    r"""mailbox\ (?:is\ )?full|over\ ?quota|quota\ exceeded|exceeded\ storage|
    insufficient\ (?:system\ )?storage|temporarily\ (?:over|unavailable|deferred|limited)|
    try\ again\ later|greylist|too\ much\ mail\ data|mailbox\ would\ exceed|
    容量(?:を)?超過|メールボックスがいっぱい""",
    re.I | re.X,
)


def transient_failure(status: str, explanation: str) -> bool:
    """A failure that passes: RFC 3463 X.2.2 (mailbox full) and X.4.x/X.3.x system states
    report conditions that change; so do over-quota and greylisting texts."""
    if status.startswith("4"):
        return True
    detail = status.split(".", 1)[1] if "." in status else ""
    if detail == "2.2" or (detail.startswith("3.") and detail != "3.0"):
        return True
    return bool(_TRANSIENT_RE.search(explanation[:20_000]))


# --------------------------------------------------------------------------- Amazon SES

_JSON_START_RE = re.compile(r"^\s*\{")
MAX_JSON_CHARS = 200_000


def ses_notification(text: str) -> Bounce | None:
    """An SES bounce notification delivered by mail: the JSON itself, or an SNS envelope
    ("Type": "Notification") whose "Message" holds it. SNS may fold long lines with a
    trailing "!"; the "--" line starts its unsubscribe footer."""
    if not _JSON_START_RE.match(text) or "notificationType" not in text[:MAX_JSON_CHARS]:
        return None
    payload = _load_json(text[:MAX_JSON_CHARS])
    if isinstance(payload, dict) and isinstance(payload.get("Message"), str):
        payload = _load_json(payload["Message"])
    if not isinstance(payload, dict) or payload.get("notificationType") != "Bounce":
        return None  # Delivery and Complaint notifications are not bounces
    bounce = _dict(payload.get("bounce"))
    recipients, statuses = _ses_recipients(bounce.get("bouncedRecipients"))
    if not recipients:
        return None
    transient = bounce.get("bounceType") != "Permanent"
    status = next((s for s in statuses if s), "") or ("4.0.0" if transient else "5.0.0")
    return Bounce(recipients, status, "failed", _ses_message_id(payload), transient=transient)


def _load_json(text: str) -> object:
    body = text.split("\n--\n", 1)[0]
    for candidate in (body, re.sub(r"!\r?\n[ \t]*", "", body)):
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return None


def _ses_recipients(items: object) -> tuple[list[str], list[str]]:
    recipients: list[str] = []
    statuses: list[str] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        address = str(item.get("emailAddress", "")).strip().lower()
        _, address = email.utils.parseaddr(address)
        if "@" in address and address not in recipients:
            recipients.append(address)
            statuses.append(str(item.get("status", "")).strip())
    return recipients[:100], statuses


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _ses_message_id(payload: dict) -> str:
    mail = _dict(payload.get("mail"))
    headers = mail.get("headers")
    for header in headers if isinstance(headers, list) else []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == "message-id":
            return str(header.get("value", "")).strip().strip("<>")
    common = _dict(mail.get("commonHeaders"))
    if common.get("messageId"):
        return str(common["messageId"]).strip().strip("<>")
    # SES's own id: the Message-ID SES gave the mail when the sender let it choose one.
    return str(mail.get("messageId", "")).strip()


# --------------------------------------------------------------------------- list managers

_LIST_REJECTION_RE = re.compile(
    r"""not\ a\ member|non[-\ ]?members?\b|
    not\ (?:allowed|authori[sz]ed|permitted)\ to\ (?:post|send)|
    only\ (?:subscribers|members)\ (?:may|can|are\ allowed\ to)\ post|members[-\ ]only|
    restricted\ to\ (?:subscribers|members)|authori[sz]ation\ denied|
    may\ not\ have\ permission\ to\ post|not\ subscribed|must\ be\ subscribed""",
    re.I | re.X,
)
_LIST_HOLD_RE = re.compile(
    r"awaits?\ moderator|being\ held|held\ for\ (?:moderation|approval)|moderator\ approval|"
    r"waiting\ for\ (?:moderation|approval)|pending\ moderation",
    re.I | re.X,
)
_LIST_BOUNCE_RE = re.compile(r"reject|denied|not\ (?:allowed|authori[sz]ed)|held|moderat", re.I)


def list_reply(sender: str, subject: str, explanation: str, candidates: list[str]) -> Bounce | None:
    """A list manager refusing or holding our post. `candidates` are addresses from the text
    and from the returned message's To/Cc, best first; the list's own address is the one on
    the manager's domain, else the one its sender names ("printers-owner@" -> "printers@")."""
    if not is_list_manager(sender):
        return None
    words = f"{subject}\n{explanation[:20_000]}"
    held = bool(_LIST_HOLD_RE.search(words))
    rejected = bool(_LIST_REJECTION_RE.search(words))
    if not (held or (rejected and _LIST_BOUNCE_RE.search(words))):
        return None  # welcome mail, password reminders, digests: automatic, not bounces
    address = _list_address(sender, candidates)
    if not address:
        return None
    return Bounce([address], "4.7.1" if held else "5.7.1", "delayed" if held else "failed", "")


def _list_address(sender: str, candidates: list[str]) -> str:
    local, _, domain = sender.lower().partition("@")
    manager = local in _LIST_MANAGERS
    for address in candidates:
        cand_local, _, cand_domain = address.partition("@")
        if cand_domain == domain and cand_local != local and not is_system_address(address):
            return address
    match = _LIST_SUFFIX_RE.match(local) or _LIST_PREFIX_RE.match(local)
    if match and not manager:
        return f"{match.group('list')}@{domain}"
    return ""
