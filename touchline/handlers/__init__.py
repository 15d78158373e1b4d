"""Processors that turn touchpoints into interactions: identity resolution."""
