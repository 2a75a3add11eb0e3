"""improv's model: definition, training, export and shipped weights (the model issue)."""
