"""Evaluation maths: view aggregation, kNN classification, linear probes on frozen features."""
