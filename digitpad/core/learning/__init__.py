"""Training and teaching: the config, events, the step loop, sessions."""
