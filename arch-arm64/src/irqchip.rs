//! GICv3 and ITS state: distributor, redistributors, ITS tables (ABI rev 0).
