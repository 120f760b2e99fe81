"""Profiles: the menu of server kinds (both configuration shapes), the spawn page's form, and
checking a user's choice before anything is sent to AWS."""
