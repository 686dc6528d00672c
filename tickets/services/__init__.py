"""Every change to tickets goes through these modules: one transaction, a TicketEvent naming who
acted, and domain events delivered after commit.

Siblings import one way only (each imports only modules to its right):

    bulk -> tickets -> comments -> status_change -> timeline
    merge -> tickets

and any of those may import the leaves, which import no sibling: attachments, contacts,
defaults. canned_responses and forwarding (-> timeline) stand alone. Callers import the module
that holds a name (`from tickets.services.comments import comment_create`); this package
re-exports nothing.
"""
