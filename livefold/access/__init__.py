"""livefold's own access tokens, shared by the services that check them: the gateway issues
and verifies them, the media service verifies a co-streaming guest's. Neither imports the
other; both import this."""
