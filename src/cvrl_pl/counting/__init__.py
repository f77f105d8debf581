"""Repetition counting as SEVERE's UCF-RC task runs it (Zhang et al., CVPR 2020, "Context-aware and Scale-insensitive
Temporal Repetition Counting"): the training segments, the two-context input around a position, the anchors'
targets. Frames here are positions in a sample (a training segment, or a whole test video), from 0."""
