"""Every state change of inbound mail: intake, processing, retries, the quarantine, settings.

Intake stores the raw bytes, records one InboundMessage per tenant the recipients name (or an
UnclaimedMessage when none does), commits, and only then queues its processing (through
inbound_mail.queue, by task name: these modules never import inbound_mail.tasks, which calls
them). Processing claims the rows, parses, classifies, threads and applies in one transaction
under the thread's locks (see locks.py), so a message is applied once however often it is
delivered or queued. `decisions.decide` holds the rules; it reads through `Reads`, which
batch.py answers for many messages at once.

The modules, and the direction of their imports (a module imports only those to its right):

    batch -> processing -> apply -> decisions
    batch -> intake (the sweeper's deadline, STUCK_AFTER)
    quarantine -> processing, intake
    mailboxes -> intake
    spam, addresses, sender_trust (no sibling)

- intake: storing and recording what arrives, queueing its processing
- decisions: what a message is and where it goes (`decide`, `Reads`, `Decision`, `Context`)
- apply: writing a decision: new ticket, reply, staff reply, bounce, contacts, uploads
- processing: claiming one message, processing it, finishing it or counting a failed try
- batch: processing many messages of one tenant together
- quarantine: the sweeper, reprocessing and deleting, the platform's unclaimed mail
- spam: the spam list, marking a ticket as spam
- mailboxes: testing and polling IMAP mailboxes, their settings
- addresses: a tenant's inbound addresses, and those confirmed by a mail that came back
- mail_domains: custom mail domains and their DNS verification
- sender_trust: the receiving hosts whose Authentication-Results the tenant trusts
"""
