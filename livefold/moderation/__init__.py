"""Chat moderation as pure functions: text normalisation (`normalize`), rules (`rules`,
`toxicity`, `spam`), the verdict on a message (`verdicts`), and the per-stream moderation state
folded from events (`state`, `fold`, `actions`, `review`). No Kafka or Faust import here."""
