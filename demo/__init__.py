"""Demo data for the embedded default: `manage.py seed_demo` seeds every app."""
