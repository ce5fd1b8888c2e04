"""Retention of the log: partitions made ahead, archival of old ones into signed evidence
bundles (`custody archive`), offline replay of what was archived."""
