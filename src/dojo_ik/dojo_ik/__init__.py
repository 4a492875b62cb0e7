"""dojo_ik: the classical IK baseline node (and the command streaming it shares with sim episode runners)."""
