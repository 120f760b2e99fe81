"""Everything that talks to AWS: credentials, shared clients, the ECS gateway, the task
watcher, pacing, parsing big answers off the loop, log redaction, reading task descriptions."""
