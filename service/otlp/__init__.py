"""OTLP/HTTP receiver: OpenTelemetry GenAI spans and log records become Custody events."""
