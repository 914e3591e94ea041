//! x86-only devices: the i8042 controller (reset line), the ACPI PM1a registers (power-off) and
//! the CMOS RTC.

pub mod cmos;
pub mod i8042;
pub mod pm;
