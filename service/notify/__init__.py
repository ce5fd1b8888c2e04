"""Notifications: incident changes reach people through a transactional outbox.

A change to an incident writes an outbox row in the same transaction as the change
(`outbox.enqueue`), so a notification exists if and only if the change committed. The
dispatcher (`dispatcher.Dispatcher`, a background task) follows the outbox by id with one
cursor per target, delivers at least once and in order, retries with backoff, and records
every attempt in the log. A dead target only holds back its own cursor.
"""
