"""livefold's stream processors: the Faust agents that fold events, the analytics sink, replay."""
