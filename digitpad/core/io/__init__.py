"""Files in and out: safe reads, atomic writes, paths, the guarded output of model files."""
