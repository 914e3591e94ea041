//! The device tree (vm-fdt): memory, cpus, psci, timer, gic/its, uart, chosen.
