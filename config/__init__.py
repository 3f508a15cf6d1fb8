"""Configuration and logging, read once from the environment."""
