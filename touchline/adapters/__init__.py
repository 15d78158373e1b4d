"""Channel adapters: deliver the campaigns' actions to each channel.

:mod:`~touchline.adapters.port` is what a channel implements,
:mod:`~touchline.adapters.dispatcher` what every channel shares (the ledger,
the check at the moment of sending, retries, the report), and
:mod:`~touchline.adapters.registry` the channels ``touchline adapters`` runs.
"""
