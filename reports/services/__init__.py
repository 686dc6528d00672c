"""Reports' services: `facts` builds the figures of tickets (reads only), `rollups` writes
them and the daily counts (imports facts)."""

from reports.services.rollups import rollups_rebuild, rollups_refresh, rollups_refresh_tickets

__all__ = ["rollups_rebuild", "rollups_refresh", "rollups_refresh_tickets"]
