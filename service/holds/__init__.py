"""Legal holds: what must not be erased, and the check erasure runs before it erases.

A hold names an incident, an actor, a resource, an event-time range, or several of
these at once (an event must match all of them). Evidence of an incident that is still
being worked is held without an explicit hold.
"""
