"""What every app shares and nothing of HTTP: the domain's errors, the caller (`Actor`), key types and service
names, input cleaning, and idempotent creation. Imports Django only."""
