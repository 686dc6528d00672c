"""Full-text search over a tenant's tickets, comments, people and attachments."""
