"""Corpora: the offline embedded corpus, manifests, segmentation and the HDF5 waveform store."""
