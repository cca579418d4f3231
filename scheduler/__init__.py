"""Phalanx: a workload-aware secondary scheduler for Kubernetes."""
