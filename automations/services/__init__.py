"""Automations' services. Modules import left to right: `run -> scan` (the engine: a tenant's
rules on one ticket for one event or one time period; the time rules' scan and their clocks);
`macros` (an agent applying a macro). Each calls the ticket services through
automations.actions, never the other way round.
"""
