//! uImage/ELF loading and the initial TLB1 entry, as U-Boot leaves it.
