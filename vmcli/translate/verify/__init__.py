"""Differential verification on Unicorn, one harness for both directions: the source code runs on
a CPU of its own architecture, the translation on a CPU of the target's, from the same random
guest state (edge values included); every guest register, the exit address and the written memory
must match bit for bit. Each direction plugs in its host-state layout and its oracle notes
(harness.Checker); the harness reaches a direction only through the registry."""
