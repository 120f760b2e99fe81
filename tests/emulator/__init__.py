"""The AWS emulator the tests (and later the demo and the benchmark) run against.

Processes, each on a loopback port:

* ``server``: moto with the ECS and SSM extensions (``ecs_ext``, ``ssm_ext``) and a control
  API; the same command line as ``moto_server``.
* ``agent``: a local ECS agent. It registers a container instance and runs each task placed
  on it as a local process, reporting states, ports and exits as the real agent does.
* ``proxy``: counts AWS calls per operation and injects faults, in front of the server.

``launcher`` starts and stops them for pytest fixtures and nox sessions. Nothing here is
shipped in the wheel.
"""
