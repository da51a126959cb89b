"""Detector models: specs, the SSL front end + pooling + linear head, checkpoints, SSL
pre-training and the frozen-prefix feature cache."""

from deepfake_rl.models.checkpoint import (CheckpointError, load_detector, load_frontend_into,
                                           read_checkpoint_metadata, save_detector, save_frontend)
from deepfake_rl.models.detector import FAKE, REAL, Detector, DetectorOutput, FreezeMode, real_probability
from deepfake_rl.models.feature_cache import FeatureDataset, write_feature_cache
from deepfake_rl.models.pretrain import build_pretraining_model, pretrain_frontend, pretrained_frontend_state
from deepfake_rl.models.spec import DEFAULT_MODELS, ModelSpec, default_specs

__all__ = [
    "DEFAULT_MODELS", "FAKE", "REAL", "CheckpointError", "Detector", "DetectorOutput", "FeatureDataset",
    "FreezeMode", "ModelSpec", "build_pretraining_model", "default_specs", "load_detector",
    "load_frontend_into", "pretrain_frontend", "pretrained_frontend_state", "read_checkpoint_metadata",
    "real_probability", "save_detector", "save_frontend", "write_feature_cache",
]
