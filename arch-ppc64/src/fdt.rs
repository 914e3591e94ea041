//! The pseries device tree: cpus (cache geometry from the host), memory, rtas, vdevice, chosen.
