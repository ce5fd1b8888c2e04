"""Talking to a Custody server: used by client CLI commands, the shipper and Python apps."""
