//! vmlinux loading and entry state (r3 = FDT address).
