"""Pure request building: one spawn's settings, its task definition revision, its tags and
``startedBy``, and the RunTask request. Nothing here calls AWS."""
