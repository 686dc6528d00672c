"""Template filters of the tickets app."""
