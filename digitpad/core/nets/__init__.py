"""The networks: the architecture spec, modules built from it, checkpoints, export, devices."""
