"""Where a running task's server listens: the endpoint resolvers, the node-address sources
of ECS Anywhere and EC2, and ports for host-network servers."""
