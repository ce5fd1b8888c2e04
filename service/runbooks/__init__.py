"""Runbook templates: loading, sandboxed rendering, selection, checks and progress.

Everything in this package is pure (no database, no HTTP) so the incidents domain,
the API and the CLI (`custody runbooks check|render`) share one implementation.
"""
