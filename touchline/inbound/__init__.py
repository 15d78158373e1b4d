"""What partners and providers send us, turned into catalogue events.

The mapping of an inbound item (an ESP's event, a call-status callback, a
partner's order) to an event lives here, below the HTTP API, so that every
way such items arrive shares it: the signed webhooks
(:mod:`touchline.api.webhooks_in`) and the partner order files dropped in a
watched folder (:mod:`touchline.inbound.drop_folder`).
"""
