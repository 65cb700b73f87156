"""NAS-DQN: a Deep Q-Network whose architecture is searched online by a controller (reproduction)."""

__version__ = "0.1.0"
