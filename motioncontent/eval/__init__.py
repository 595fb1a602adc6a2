"""Evaluation: disentanglement metrics, judges, probes and sweeps, kept out of the training code."""
