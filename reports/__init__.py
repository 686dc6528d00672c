"""Reports: how support is doing, from daily rollups of the ticket timeline and the SLA rows."""
