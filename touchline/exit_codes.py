"""What ``touchline``'s exit status means, for scripts that run it.

Every command uses these; the README lists them. An internal error has its
own code so that a script never takes a crash for a partial refusal.
"""

OK = 0
REFUSED = 1
"""Some input was refused (the rest was accepted), or what was asked for is not there."""
USAGE = 2
"""Bad arguments or configuration: nothing was done."""
UNREADABLE = 3
"""The input as a whole cannot be read (empty, not JSON, unclosed): nothing was published."""
UNAVAILABLE = 4
"""The log or the database could not be reached or refused the work."""
INTERNAL = 70
"""A fault in touchline itself (sysexits' EX_SOFTWARE); TOUCHLINE_DEBUG=1 shows the traceback."""
