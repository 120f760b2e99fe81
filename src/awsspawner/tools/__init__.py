"""Programs that run beside the hub: the orphan reaper."""
