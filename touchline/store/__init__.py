"""The storage boundary: engines, the schema and its migrations, stored positions.

Processors and projections write through a SQLAlchemy ``Connection`` the
runner hands them; everything about where that connection comes from, and
how the schema gets there, lives here. ``touchline.events`` and the pure
projection logic import nothing from this package.
"""
