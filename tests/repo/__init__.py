"""Checks of the repository itself: manifests, workflow, Dockerfile, lock, protos, alert rules."""
