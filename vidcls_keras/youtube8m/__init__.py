"""YouTube-8M: its TFRecord formats (`records`: feature names and sizes, quantization, tf.data
parsing of video-level Examples and frame-level SequenceExamples) and generated shards of the same
shape for tests and benchmarks (`synthetic`)."""
