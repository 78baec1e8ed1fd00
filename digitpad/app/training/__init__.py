"""The Training tab: train or retrain a model with live plots."""
