"""Deployment artefacts: container build contexts and Kubernetes manifests."""
