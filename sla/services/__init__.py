"""Every change to SLA rows goes through these modules.

Siblings import one way only (each imports only modules to its right):

    recompute -> timers -> policies
    scan

`timers` also holds the synchronous hooks tickets calls inside its transactions
(`tickets.hooks`); `scan` marks warnings and breaches and emits their domain events.
"""
