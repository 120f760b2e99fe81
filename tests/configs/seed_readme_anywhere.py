# The configuration from the original awsspawner README, copied verbatim (block by block).
# Tests load it with traitlets' config loader, exactly as jupyterhub_config.py is loaded.
# Do not edit: these are the settings our existing users have.

# Enable ECS Anywhere
c.AWSSpawner.launch_type = 'EXTERNAL'

# Configure port range for dynamic allocation (optional)
c.AWSSpawner.port_range_start = 8000
c.AWSSpawner.port_range_end = 9000
c.AWSSpawner.use_dynamic_port = True

# Optional: Add placement constraints
c.AWSSpawner.placement_constraints = [
    {'type': 'memberOf', 'expression': 'attribute:gpu-enabled == true'}
]
