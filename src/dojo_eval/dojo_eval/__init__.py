"""dojo_eval: success rates on the sim cell through the real nodes (`dojo eval`) and the whole learning loop
(`dojo demo`). It sits above the simulator, the policy server and the expert, so that the robot-side
policy server never depends on the simulator or the IK package."""
