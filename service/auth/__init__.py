"""API tokens, scopes, rate limits: every route declares the scope it needs."""
