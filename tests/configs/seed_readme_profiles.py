# The configuration from the original awsspawner README, copied verbatim (block by block).
# Tests load it with traitlets' config loader, exactly as jupyterhub_config.py is loaded.
# Do not edit: these are the settings our existing users have.

c.AWSSpawner.profiles = [
    (
        'Small Instance',  # Display name
        'small',          # Profile key
        {                 # Configuration overrides
            'cpu': 512,
            'memory': 1024,
            'image': 'jupyter/minimal-notebook:latest',
        }
    ),
    (
        'Medium Instance',
        'medium',
        {
            'cpu': 1024,
            'memory': 2048,
            'image': 'jupyter/datascience-notebook:latest',
        }
    ),
    (
        'GPU Instance',
        'gpu',
        {
            'cpu': 4096,
            'memory': 8192,
            'image': 'jupyter/tensorflow-notebook:latest',
            'launch_type': 'EC2',  # Override launch type for GPU instances
        }
    ),
    # Scenario 1: Environment-based node selection
    (
        'Development Environment',
        'dev',
        {
            'cpu': 1024,
            'memory': 2048,
            'launch_type': 'EXTERNAL',
            'use_dynamic_port': True,
            'placement_constraints': [
                {'type': 'memberOf', 'expression': 'attribute:environment == development'}
            ],
        }
    ),
    (
        'Production Environment', 
        'prod',
        {
            'cpu': 2048,
            'memory': 4096,
            'launch_type': 'EXTERNAL',
            'use_dynamic_port': True,
            'placement_constraints': [
                {'type': 'memberOf', 'expression': 'attribute:environment == production'}
            ],
        }
    ),
    # Scenario 2: Hardware-based node selection
    (
        'High Memory Instance',
        'high-mem',
        {
            'cpu': 2048,
            'memory': 8192,
            'launch_type': 'EXTERNAL',
            'use_dynamic_port': True,
            'placement_constraints': [
                {'type': 'memberOf', 'expression': 'attribute:memory-optimized == true'}
            ],
        }
    ),
    (
        'GPU Anywhere Instance',
        'gpu-anywhere',
        {
            'cpu': 4096,
            'memory': 8192,
            'launch_type': 'EXTERNAL', 
            'use_dynamic_port': True,
            'placement_constraints': [
                {'type': 'memberOf', 'expression': 'attribute:gpu-enabled == true'}
            ],
        }
    ),
]
