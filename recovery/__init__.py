"""After an incident: reconcile Redis against PostgreSQL, replay rejected sales."""
