"""The event backbone: event values, schemas and topics, the wire codec, producer and consumer."""
