"""The HTTP API: ServiceStack-style routes, JSON/XML formats, API keys and roles."""
