"""A network reading digits: predictions (torch and numpy) and scoring."""
