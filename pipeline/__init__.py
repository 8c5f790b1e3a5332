"""What travels between operators: one StudyWork envelope per study, with typed per-app payloads."""
