//! The e500 board device tree: cpus, memory, soc/ccsr, mpic, serial, chosen.
