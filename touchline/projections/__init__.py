"""Read models: tables, the pure logic that turns events into writes, and queries."""
