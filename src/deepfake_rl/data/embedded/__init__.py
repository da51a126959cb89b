"""The embedded default corpus, synthesised offline: real prompts (prompts), fakes (attacks),
channel and codec chains (channels), and the per-domain build (build). The real-corpus loaders
live in deepfake_rl.data.corpora; the data path shared by both (manifest, audio I/O,
segmentation, stores) in deepfake_rl.data."""
