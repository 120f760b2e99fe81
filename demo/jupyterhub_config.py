# JupyterHub configuration of the awsspawner demo.
#
# Apart from the addresses and ports that `python -m demo` hands over in DEMO_* variables,
# this is what you would write for a real AWS account: awsspawner finds "AWS" through the
# standard AWS_ENDPOINT_URL variable, which the demo points at its local emulator.
# flake8: noqa
import os

c = get_config()  # noqa: F821 - provided by JupyterHub's config loader

demo = os.environ

# ----------------------------------------------------------------- the hub, on loopback only
c.JupyterHub.bind_url = f"http://127.0.0.1:{demo['DEMO_HUB_PORT']}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(demo["DEMO_HUB_API_PORT"])
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{demo['DEMO_PROXY_API_PORT']}"
c.ConfigurableHTTPProxy.command = [demo["DEMO_CHP"]]

# One password for every user name (JupyterHub's SharedPasswordAuthenticator).
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = demo["DEMO_PASSWORD"]
c.Authenticator.allow_all = True
c.JupyterHub.allow_named_servers = True
c.Spawner.default_url = "/lab"
if os.geteuid() == 0:
    # The demo's "containers" are processes of whoever runs it; Jupyter refuses root unless
    # told (in a real image the server runs as the image's own user).
    c.Spawner.args = ["--ServerApp.allow_root=True"]

# ----------------------------------------------------------------------- awsspawner
c.JupyterHub.spawner_class = "awsspawner.AWSSpawner"
c.AWSSpawner.aws_region = "us-east-1"
c.AWSSpawner.task_cluster_name = "notebooks"
c.AWSSpawner.task_container_name = "notebook"
c.AWSSpawner.task_definition_family = "notebook-fargate"
c.AWSSpawner.launch_type = "FARGATE"
c.AWSSpawner.task_subnets = [demo["DEMO_SUBNET"]]
c.AWSSpawner.task_security_groups = [demo["DEMO_SECURITY_GROUP"]]
c.AWSSpawner.assign_public_ip = False
# Every user's files survive a stop: a home per user on EFS, mounted at /home/jovyan.
c.AWSSpawner.efs_file_system_id = demo["DEMO_FILE_SYSTEM"]
# The demo's notebook servers answer quickly; look at starting tasks often.
c.AWSSpawner.startup_poll_interval = 0.5

# The menu users pick from (KubeSpawner's shape). Every entry runs on one of the demo's
# nodes: Fargate, an EC2 container instance, and two ECS Anywhere machines. ECS Anywhere
# cannot mount EFS: those profiles keep homes on the node's own disk instead (a directory per
# profile, since each profile runs on its own machine; each user is pinned to that machine).
c.AWSSpawner.profile_list = [
    {
        "display_name": "Fargate: 1 vCPU, 2 GiB",
        "slug": "fargate",
        "description": "A task on AWS Fargate in a private subnet; its own network interface.",
        "default": True,
        "spawner_override": {"cpu": 1024, "memory": 2048},
        "profile_options": {
            "image": {
                "display_name": "Image",
                "choices": {
                    "base": {
                        "display_name": "Jupyter base notebook",
                        "default": True,
                        "spawner_override": {},
                    },
                    "scipy": {
                        "display_name": "Jupyter SciPy notebook",
                        "spawner_override": {"image": "quay.io/jupyter/scipy-notebook:2026-01-01"},
                    },
                },
            }
        },
    },
    {
        "display_name": "Fargate, with the team's secrets and a role per user",
        "slug": "fargate-secrets",
        "description": "DATABASE_PASSWORD from Secrets Manager and API_KEY from SSM, fetched "
        "by ECS at start (the hub never reads them); an IAM task role of your own.",
        "spawner_override": {
            "secrets": {
                "DATABASE_PASSWORD": demo["DEMO_SECRET_ARN"],
                "API_KEY": demo["DEMO_PARAMETER_ARN"],
            },
            "task_role_arn": "arn:aws:iam::123456789012:role/jupyter/user-{username}",
        },
    },
    {
        "display_name": "Fargate Spot: cheaper, may be interrupted",
        "slug": "fargate-spot",
        "description": "Capacity provider FARGATE_SPOT, the same task definition; "
        "Fargate On-Demand when Spot has no capacity.",
        "spawner_override": {"launch_type": "FARGATE_SPOT", "capacity_fallback": ["FARGATE"]},
    },
    {
        "display_name": "EC2 container instance (bridge network)",
        "slug": "ec2",
        "description": "Placed by ECS on the cluster's EC2 instance; Docker maps the port.",
        "spawner_override": {
            "launch_type": "EC2",
            "task_definition_family": "notebook-ec2",
            "task_subnets": [],
            "task_security_groups": [],
        },
    },
    {
        "display_name": "ECS Anywhere: the GPU workstation",
        "slug": "gpu-workstation",
        "description": "Your own machine with gpu=true; bridge network.",
        "spawner_override": {
            "launch_type": "EXTERNAL",
            "task_definition_family": "notebook-anywhere-bridge",
            "task_subnets": [],
            "task_security_groups": [],
            "efs_file_system_id": None,
            "node_home_directory": "/srv/jupyterhub/gpu/{username}",
            "placement_constraints": [{"type": "memberOf", "expression": "attribute:gpu == true"}],
        },
    },
    {
        "display_name": "ECS Anywhere: a CPU server, host network",
        "slug": "cpu-server",
        "description": "Host networking: the spawner picks a free port on the node.",
        "spawner_override": {
            "launch_type": "EXTERNAL",
            "task_definition_family": "notebook-anywhere-host",
            "task_subnets": [],
            "task_security_groups": [],
            "efs_file_system_id": None,
            "node_home_directory": "/srv/jupyterhub/cpu/{username}",
            "use_dynamic_port": True,
            "port_range_start": 9000,
            "port_range_end": 9100,
            "placement_constraints": [{"type": "memberOf", "expression": "attribute:role == cpu"}],
        },
    },
]
