//! Devices every arch shares. Where they sit and how their interrupts are routed is the arch's call.

pub mod debug_exit;
pub mod fw_cfg;
pub mod serial;

pub use debug_exit::DebugExit;
pub use fw_cfg::FwCfg;
pub use serial::Serial16550;
