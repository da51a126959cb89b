"""The one training loop shared by post-training and every fine-tuning method."""
