"""touchline's benchmarks: ``./dev bench`` (or ``python -m bench``)."""
