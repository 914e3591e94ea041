//! Register map: GPRs, SPRs, SLB; sregs and ONE_REG ids.
