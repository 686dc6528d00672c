"""Live collaboration: pushed updates, presence and drafts over one websocket per tab.

Imports run: `routing -> consumers -> catchup -> render`; `consumers -> publish, presence, relay,
middleware` (the tenant and the agent); `publish -> render, relay`; `relay_views -> publish,
relay`; `presence -> drafts -> relay`; `views -> drafts, models`. `relay` imports no sibling: it
gets presence's broadcast from `apps`, which wires `publish`, `relay` and `drafts` in
`ready()`. Nothing below `live` imports it; it hears the ticket services
through `tickets.events` and outbound mail's in-app notices through
`outbound_mail.unread.unread_changed`.
"""
