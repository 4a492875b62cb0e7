"""dojo_sim: the ROS face of the MuJoCo SO-101 cell (sim_node) and the scripted demo client."""
