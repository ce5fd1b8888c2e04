"""Sharing an incident with peers: STIX 2.1 bundles and MISP events, under its TLP.

Exports carry what a peer can act on (indicators for the IP addresses and user agents of
the evidence, API keys only as SHA-256 digests, the ATLAS and ATT&CK techniques of the
incident's tags, sightings of the evidence) and never the payloads of events. Every
object carries the incident's TLP 2.0 marking; TLP:RED incidents are never exported.
"""
