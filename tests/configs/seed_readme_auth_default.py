# The configuration from the original awsspawner README, copied verbatim (block by block).
# Tests load it with traitlets' config loader, exactly as jupyterhub_config.py is loaded.
# Do not edit: these are the settings our existing users have.

# Uses the default credential chain (environment variables, instance profile, etc.)
c.AWSSpawner.authentication_class = 'awsspawner.AWSSpawnerAuthentication'
