# The configuration from the original awsspawner README, copied verbatim (block by block).
# Tests load it with traitlets' config loader, exactly as jupyterhub_config.py is loaded.
# Do not edit: these are the settings our existing users have.

c.AWSSpawner.authentication_class = 'awsspawner.AWSSpawnerSecretAccessKeyAuthentication'
c.AWSSpawnerSecretAccessKeyAuthentication.aws_access_key_id = 'YOUR_ACCESS_KEY'
c.AWSSpawnerSecretAccessKeyAuthentication.aws_secret_access_key = 'YOUR_SECRET_KEY'
