"""The portal's state changes, one module per area; each goes through the ticket services."""
