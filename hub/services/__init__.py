"""Domain services: what the hub does, whichever face (portal, admin, CLI) asks.

Services validate input (raising hub.errors), use the repositories of hub.storage, and return
domain objects; they know nothing of HTTP.
"""
