"""Integrations with the tools around training and scoring: Ray (Data and Train) and Optuna (``sentscore tune``)."""
