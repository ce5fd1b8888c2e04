"""Snoozes: a responder silences one rule for a group or an entity, until a time.

A firing that matches an active snooze opens no incident; it is counted on the snooze,
its evidence seqs are attached to it, and a `snooze.suppress` record says so in the log.
Creating, releasing and expiring a snooze are log records too (`snooze.create`,
`snooze.release`, `snooze.expire`). Snoozing a critical rule needs the admin scope.
"""
