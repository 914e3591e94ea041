//! x86-only devices: the i8042 controller (reset line) and the ACPI PM1a registers (power-off).

pub mod i8042;
pub mod pm;
