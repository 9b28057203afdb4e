"""Recognition that learns: reviewed segments become training data, Whisper is fine-tuned on them (the `finetune`
extra: transformers and torch), and the result replaces the recogniser only when it does better on held-out
segments, with the previous one kept for `podcast-assets asr rollback`."""
