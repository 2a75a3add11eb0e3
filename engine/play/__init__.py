"""Playing: the accompaniment generators (the rule-based baseline; later the model)."""
