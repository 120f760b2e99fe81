# jupyterhub_config.py of the reference stack (deploy/jupyterhub-ecs.yaml); docs/deploy.md.
#
# Store it as the stack's SecureString SSM parameter (HubConfigParameter). The hub's container
# gets the stack's resources as AWSSPAWNER_* variables (the HubEnvironment output lists them),
# so this file holds no account's ids: the same file serves every stack, and
# `awsspawner doctor -f jupyterhub_config.py` checks it from your own machine.
import os
import sys

c = get_config()  # noqa: F821 - provided by JupyterHub's config loader

stack = os.environ

# ------------------------------------------------------------------------------- the hub
# The proxy listens for the load balancer; the hub's API for the notebook servers, which
# reach it by its Cloud Map name (the hub's task address changes when ECS replaces it).
c.JupyterHub.bind_url = "http://0.0.0.0:8000"
c.JupyterHub.hub_bind_url = "http://0.0.0.0:8081"
c.JupyterHub.hub_connect_url = stack["AWSSPAWNER_HUB_CONNECT_URL"]
# On the stack's EFS access point: users, tokens and servers survive a replaced hub task.
c.JupyterHub.db_url = "sqlite:////srv/jupyterhub/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "/srv/jupyterhub/jupyterhub_cookie_secret"
# ECS stops the hub's task with SIGTERM when it replaces it: servers keep running and the new
# hub finds them again.
c.JupyterHub.cleanup_servers = False

# Replace with your identity provider before real users arrive (OAuthenticator for GitHub,
# Google, Entra ID or any OpenID Connect provider; docs/authentication.md). Until then
# nobody can log in: the dummy authenticator would let anybody in with any password.
c.JupyterHub.authenticator_class = "null"
c.Authenticator.admin_users = set()

# ---------------------------------------------------------------------------- awsspawner
c.JupyterHub.spawner_class = "aws"
c.AWSSpawner.aws_region = stack["AWSSPAWNER_REGION"]
c.AWSSpawner.hub_id = stack["AWSSPAWNER_HUB_ID"]
c.AWSSpawner.task_cluster_name = stack["AWSSPAWNER_CLUSTER"]
c.AWSSpawner.task_definition_family = stack["AWSSPAWNER_TASK_DEFINITION_FAMILY"]
c.AWSSpawner.task_container_name = "notebook"
c.AWSSpawner.task_subnets = stack["AWSSPAWNER_SUBNETS"].split(",")
c.AWSSpawner.task_security_groups = [stack["AWSSPAWNER_SECURITY_GROUP"]]
c.AWSSpawner.assign_public_ip = False  # private subnets: the image comes through the NAT
c.AWSSpawner.execution_role_arn = stack["AWSSPAWNER_EXECUTION_ROLE"]
# Fargate Spot costs about a third of Fargate; when Spot has no capacity, Fargate.
c.AWSSpawner.launch_type = "FARGATE_SPOT"
c.AWSSpawner.capacity_fallback = ["FARGATE"]
# A home per user on EFS, mounted at /home/jovyan: files survive a stop.
c.AWSSpawner.efs_file_system_id = stack["AWSSPAWNER_FILE_SYSTEM"]
# Each server's hub API token in an S3 file ECS hands to the container, not in the task's
# description where anyone allowed ecs:DescribeTasks could read it.
c.AWSSpawner.api_token_source = "s3"
c.AWSSpawner.api_token_bucket = stack["AWSSPAWNER_TOKEN_BUCKET"]
# Fargate pulls the image anew for every task: allow for a large one.
c.AWSSpawner.start_timeout = 600
c.Spawner.default_url = "/lab"

# ------------------------------------------------------------------------------ the reaper
# Stops tasks no server owns and deletes token files no server needs (docs/reaper.md). A
# hub-managed service does not inherit the hub's environment: hand it the AWS_* variables
# (on ECS, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: the hub's task role).
# fmt: off
reaper_command = [
    sys.executable, "-m", "awsspawner.reaper",
    "--cluster", stack["AWSSPAWNER_CLUSTER"],
    "--region", stack["AWSSPAWNER_REGION"],
    "--hub-id", stack["AWSSPAWNER_HUB_ID"],
    "--token-bucket", stack["AWSSPAWNER_TOKEN_BUCKET"],
    "--grace", "1800",  # longer than start_timeout
    "--interval", "300",
]
# fmt: on
c.JupyterHub.services = [
    {
        "name": "awsspawner-reaper",
        "command": reaper_command,
        "environment": {key: value for key, value in stack.items() if key.startswith("AWS_")},
    }
]
c.JupyterHub.load_roles = [
    {
        "name": "awsspawner-reaper",
        "scopes": ["list:users", "read:servers"],
        "services": ["awsspawner-reaper"],
    }
]
