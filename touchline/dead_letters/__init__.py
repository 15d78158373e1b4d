"""Dead letters: indexed for people, re-driven or discarded with an audit entry."""
