"""The HTTP and WebSocket door of livefold."""
