"""How the real servers are fetched, configured, started and checked for readiness."""
