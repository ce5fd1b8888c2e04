"""The responder console: server-rendered pages under /console over the domains' logic."""
