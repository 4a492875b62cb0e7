"""dojo_ik: Classical IK baseline node and the scripted pick-and-place expert."""
