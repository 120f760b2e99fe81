# The configuration from the original awsspawner README, copied verbatim (block by block).
# Tests load it with traitlets' config loader, exactly as jupyterhub_config.py is loaded.
# Do not edit: these are the settings our existing users have.

c.JupyterHub.spawner_class = 'awsspawner.AWSSpawner'

# AWS Region
c.AWSSpawner.aws_region = 'us-east-1'

# ECS Cluster configuration
c.AWSSpawner.task_cluster_name = 'your-ecs-cluster-name'
c.AWSSpawner.task_definition_family = 'jupyter-notebook'
c.AWSSpawner.task_container_name = 'notebook'

# Optional: Specify task definition ARN directly (bypasses find/create logic)
# c.AWSSpawner.task_definition_arn = 'arn:aws:ecs:us-east-1:123456789012:task-definition/jupyter-notebook:1'

# Network configuration
c.AWSSpawner.task_security_groups = ['sg-xxxxxxxxxxxxxxxxx']
c.AWSSpawner.task_subnets = ['subnet-xxxxxxxxxxxxxxxxx']
c.AWSSpawner.assign_public_ip = True  # Set to False for private subnets

# Launch type configuration
# Option 1: Use a specific launch type
c.AWSSpawner.launch_type = 'FARGATE'  # Options: 'EC2', 'FARGATE', 'EXTERNAL'

# Option 2: Use Fargate Spot
c.AWSSpawner.launch_type = 'FARGATE_SPOT'

# Option 3: Use ECS Anywhere
c.AWSSpawner.launch_type = 'EXTERNAL'

# Option 4: Use capacity provider strategy
c.AWSSpawner.launch_type = [
    {'capacityProvider': 'FARGATE_SPOT', 'weight': 1, 'base': 1}
]

# Resource allocation (optional)
c.AWSSpawner.cpu = 1024  # 1 vCPU
c.AWSSpawner.memory = 2048  # 2 GB
c.AWSSpawner.memory_reservation = 1024  # 1 GB

# Notebook configuration
c.AWSSpawner.notebook_scheme = 'http'  # or 'https' if using SSL
c.AWSSpawner.notebook_args = ['--NotebookApp.allow_origin=*']

# IAM Role (optional)
c.AWSSpawner.task_role_arn = 'arn:aws:iam::123456789012:role/your-task-role'

# Docker image (optional - will use the one from task definition if not specified)
c.AWSSpawner.image = 'jupyter/minimal-notebook:latest'

# Task tagging (optional)
c.AWSSpawner.task_owner_tag_name = 'Jupyter-User'  # Default value

# ECS task settings (optional)
c.AWSSpawner.propagate_tags = 'TASK_DEFINITION'  # Options: 'TASK_DEFINITION', 'SERVICE', 'NONE'
c.AWSSpawner.enable_ecs_managed_tags = True  # Enable ECS managed tags

# ECS Anywhere specific settings (optional)
c.AWSSpawner.port_range_start = 8000  # Start of port range for dynamic allocation
c.AWSSpawner.port_range_end = 9000    # End of port range for dynamic allocation
c.AWSSpawner.use_dynamic_port = True  # Use dynamic port allocation
c.AWSSpawner.placement_constraints = [
    {'type': 'memberOf', 'expression': 'attribute:ecs.instance-type =~ t3.*'}
]
