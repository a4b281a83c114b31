"""livefold's schema registry: Confluent's REST API over a store kept in Kafka.

Run it with `python -m registry --kafka HOST:PORT`.
"""
