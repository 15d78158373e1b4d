"""Channel adapters: deliver actions to each channel, turn its webhooks into events.

Empty until the adapter issue: the layout keeps their place (see DESIGN.md).
"""
