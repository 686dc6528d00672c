"""Automations: rules that run on ticket events and on time, and macros agents apply by hand."""
