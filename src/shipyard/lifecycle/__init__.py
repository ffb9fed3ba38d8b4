"""Lifecycle: rollouts and gates, policies, retraining, champion/challenger, the controller."""
