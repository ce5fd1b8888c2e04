"""Full-text search over the log: `GET /v1/search` behind a `SearchIndex` protocol.

The SQL backend (default) searches the log tables directly. The OpenSearch backend is
fed after commit by a BackgroundTask that follows the log by seq cursor; answers are
always re-read from the database, which stays the system of record.
"""
