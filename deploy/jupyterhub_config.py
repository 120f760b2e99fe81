"""jupyterhub_config.py for deploy/jupyterhub-ecs.yaml (DRAFT, issue 22).

Store it as the SecureString SSM parameter named by the stack's HubConfigParameter; the hub's
task reads the stack's outputs from its environment (AWSSPAWNER_*).
"""

import os

c = get_config()  # noqa: F821

stack = os.environ
c.JupyterHub.spawner_class = "aws"
c.JupyterHub.bind_url = "http://0.0.0.0:8000"
c.JupyterHub.hub_bind_url = "http://0.0.0.0:8081"
c.JupyterHub.hub_connect_url = stack["JUPYTERHUB_CONNECT_URL"]
c.JupyterHub.db_url = "sqlite:////srv/jupyterhub/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "/srv/jupyterhub/jupyterhub_cookie_secret"

c.AWSSpawner.aws_region = stack["AWS_REGION"]
c.AWSSpawner.hub_id = stack["AWSSPAWNER_HUB_ID"]
c.AWSSpawner.task_cluster_name = stack["AWSSPAWNER_CLUSTER"]
c.AWSSpawner.task_definition_family = stack["AWSSPAWNER_TASK_DEFINITION_FAMILY"]
c.AWSSpawner.task_container_name = "notebook"
c.AWSSpawner.launch_type = "FARGATE_SPOT"
c.AWSSpawner.capacity_fallback = ["FARGATE"]
c.AWSSpawner.task_subnets = stack["AWSSPAWNER_SUBNETS"].split(",")
c.AWSSpawner.task_security_groups = [stack["AWSSPAWNER_SECURITY_GROUP"]]
c.AWSSpawner.efs_file_system_id = stack["AWSSPAWNER_FILE_SYSTEM"]
c.AWSSpawner.api_token_source = "s3"
c.AWSSpawner.api_token_bucket = stack["AWSSPAWNER_TOKEN_BUCKET"]
c.AWSSpawner.execution_role_arn = stack["AWSSPAWNER_EXECUTION_ROLE"]

# Choose an authenticator for real users; this one is for a first look only.
c.JupyterHub.authenticator_class = "dummy"
