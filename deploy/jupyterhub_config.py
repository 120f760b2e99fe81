# jupyterhub_config.py of the reference stack (deploy/jupyterhub-ecs.yaml, docs/deploy.md),
# stored as its SecureString SSM parameter (4 KB at most). The stack's resources arrive as
# AWSSPAWNER_* variables (the HubEnvironment output): no ids in here.
import os
import sys

c = get_config()  # noqa: F821

stack = os.environ
hub_id = stack["AWSSPAWNER_HUB_ID"]

# The proxy for the load balancer; the hub's API on loopback for the proxy and the reaper,
# and by the hub's Cloud Map name for notebooks.
c.JupyterHub.bind_url = "http://0.0.0.0:8000"
c.JupyterHub.hub_bind_url = "http://0.0.0.0:8081"
c.JupyterHub.hub_connect_url = "http://127.0.0.1:8081"
c.Spawner.hub_connect_url = stack["AWSSPAWNER_HUB_CONNECT_URL"]
# On the hub's EFS access point: kept when ECS replaces the hub's task.
c.JupyterHub.db_url = "sqlite:////srv/jupyterhub/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "/srv/jupyterhub/jupyterhub_cookie_secret"
c.JupyterHub.upgrade_db = True  # a newer JupyterHub migrates it, after a backup
c.ConfigurableHTTPProxy.pid_file = "/tmp/jupyterhub-proxy.pid"  # never a stale one
# A replaced hub task leaves servers running; the new hub finds them.
c.JupyterHub.cleanup_servers = False

# Nobody can log in until you choose an authenticator (docs/deploy.md, step 1).
c.JupyterHub.authenticator_class = "null"

c.JupyterHub.spawner_class = "aws"
c.AWSSpawner.aws_region = stack["AWSSPAWNER_REGION"]
c.AWSSpawner.hub_id = hub_id
c.AWSSpawner.task_cluster_name = stack["AWSSPAWNER_CLUSTER"]
c.AWSSpawner.task_definition_family = stack["AWSSPAWNER_TASK_DEFINITION_FAMILY"]
c.AWSSpawner.task_container_name = "notebook"
c.AWSSpawner.task_subnets = stack["AWSSPAWNER_SUBNETS"].split(",")
c.AWSSpawner.task_security_groups = [stack["AWSSPAWNER_SECURITY_GROUP"]]
c.AWSSpawner.assign_public_ip = False
c.AWSSpawner.execution_role_arn = stack["AWSSPAWNER_EXECUTION_ROLE"]
c.AWSSpawner.launch_type = "FARGATE_SPOT"
c.AWSSpawner.capacity_fallback = ["FARGATE"]  # when Spot has no capacity
# Homes on EFS at /home/jovyan, mounted with the task role: the policy wants an identity.
c.AWSSpawner.efs_file_system_id = stack["AWSSPAWNER_FILE_SYSTEM"]
c.AWSSpawner.efs_iam_authorization = True
# The server's API token in an S3 file, not in the task's description.
c.AWSSpawner.api_token_source = "s3"
c.AWSSpawner.api_token_bucket = stack["AWSSPAWNER_TOKEN_BUCKET"]
c.AWSSpawner.start_timeout = 600  # Fargate pulls the image for every task
c.Spawner.default_url = "/lab"

# The orphan reaper (docs/reaper.md). A managed service does not inherit the hub's
# environment: the AWS_* variables carry the task role's credentials endpoint.
reaper = ["--cluster", stack["AWSSPAWNER_CLUSTER"], "--hub-id", hub_id]
reaper += ["--region", stack["AWSSPAWNER_REGION"], "--grace", "1800"]
reaper += ["--token-bucket", stack["AWSSPAWNER_TOKEN_BUCKET"]]
c.JupyterHub.services = [
    {
        "name": "awsspawner-reaper",
        "command": [sys.executable, "-m", "awsspawner.reaper", *reaper],
        "environment": {k: v for k, v in stack.items() if k.startswith("AWS_")},
    }
]
c.JupyterHub.load_roles = [
    {
        "name": "awsspawner-reaper",
        "scopes": ["list:users", "read:servers"],
        "services": ["awsspawner-reaper"],
    }
]
