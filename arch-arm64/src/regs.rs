//! Register map: core registers and system registers by encoding, ONE_REG ids.
