"""Every change to outgoing mail goes through these modules.

Events become in-app notifications and outbox rows (`notify.notify_event`); workers claim due
rows, send them outside any transaction and record the answer (`sending.outgoing_send_due`);
a sweeper returns rows a dead worker left in flight. Time is always passed in as `now`.

Imports run one way: notify -> customer_updates -> outbox -> templates, and sending -> outbox;
portal_mail -> templates (the portal's sign-in link);
connections, preferences and dkim import no sibling. Tasks call these; nothing here imports tasks.
Callers import the module that holds a name; this package re-exports nothing.
"""
