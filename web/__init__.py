"""The Flask HTTP API: parse and validate, authenticate, hand over, answer."""
