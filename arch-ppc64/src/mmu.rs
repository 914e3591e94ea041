//! Guest MMU: SLB, hashed page table (HTAB stream codec), radix process table, EA->RA translation.
