"""deepfake-rl: does RL fine-tuning generalise better than SFT for SSL speech deepfake detectors?"""

__version__ = "0.1.0"
