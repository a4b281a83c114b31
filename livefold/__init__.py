"""livefold: interactive live streaming, event-sourced on Kafka."""
