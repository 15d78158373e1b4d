"""touchline: an event-sourced customer-interaction backbone."""

__version__ = "0.1.0"
