"""Improvements: what an incident teaches, as tracked items (CSF 2.0 ID.IM).

A responder records each lesson of a post-incident review as an item: a new or changed
detection rule, a runbook change, or a control gap. Items belong to their incident (the
change is an `incident.improvement` record in its history) and are listed across
incidents by `GET /v1/improvements` until they are done or declined.
"""
