//! Register map: MAS registers, IVORs, TCR/TSR, sregs u.e features, ONE_REG ids.
