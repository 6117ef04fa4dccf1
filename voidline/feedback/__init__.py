"""Listener feedback, online learning of the mastering model, drift detection and the model
registry. Domain code only: no gRPC."""
