//! The FADT (signature "FACP", revision 6.5, 276 bytes): a full (not hardware-reduced) ACPI
//! platform with the PM1a event block at 0x600 and control block at 0x604 (the `Pm1a` device,
//! where SLP_TYP 5 + SLP_EN powers off), no SMI command port (the platform is always in ACPI
//! mode), SCI on ISA IRQ 9, and the reset register at the i8042 command port (0x64, value 0xFE:
//! pulse the reset line), so `reboot=acpi` ends the VM like the keyboard-controller reset does.

use super::sdt::{gas, Sdt, ACCESS_BYTE, ACCESS_UNDEFINED, SPACE_SYSTEM_IO};
use crate::devices::cmos::REG_CENTURY;
use crate::layout::{ACPI_SCI_IRQ, I8042_PORT, PM1A_CNT_PORT, PM1A_EVT_PORT};

/// Length of a revision 6 FADT.
pub const FADT_LEN: usize = 276;
/// Length of the PM1a event block (status + enable, 16 bits each).
pub const PM1_EVT_LEN: u8 = 4;
/// Length of the PM1a control block.
pub const PM1_CNT_LEN: u8 = 2;
/// The value written to the reset register: i8042 command "pulse reset line".
pub const RESET_VALUE: u8 = 0xfe;
/// The reset register's port: the i8042 command/status port.
pub const RESET_PORT: u64 = I8042_PORT + 4;
/// IA-PC boot architecture flags: legacy ISA devices present (COM1, RTC).
pub const BOOT_ARCH_LEGACY_DEVICES: u16 = 1 << 0;
/// IA-PC boot architecture flags: no VGA (the console is the serial port).
pub const BOOT_ARCH_NO_VGA: u16 = 1 << 2;
/// Fixed feature flags: WBINVD works.
pub const FLAG_WBINVD: u32 = 1 << 0;
/// Fixed feature flags: C1 (HLT) on every processor.
pub const FLAG_PROC_C1: u32 = 1 << 2;
/// Fixed feature flags: no fixed-feature power button.
pub const FLAG_PWR_BUTTON: u32 = 1 << 4;
/// Fixed feature flags: no fixed-feature sleep button.
pub const FLAG_SLP_BUTTON: u32 = 1 << 5;
/// Fixed feature flags: the reset register is supported.
pub const FLAG_RESET_REG_SUP: u32 = 1 << 10;

// Field offsets (ACPI 6.5, table 5.9).
const SCI_INT: usize = 46;
const PM1A_EVT_BLK: usize = 56;
const PM1A_CNT_BLK: usize = 64;
const PM1_EVT_LEN_OFF: usize = 88;
const PM1_CNT_LEN_OFF: usize = 89;
const CENTURY: usize = 108;
const IAPC_BOOT_ARCH: usize = 109;
const FLAGS: usize = 112;
const RESET_REG: usize = 116;
const RESET_VALUE_OFF: usize = 128;
const MINOR_VERSION: usize = 131;
const X_FIRMWARE_CTRL: usize = 132;
const X_DSDT: usize = 140;
const X_PM1A_EVT_BLK: usize = 148;
const X_PM1A_CNT_BLK: usize = 172;

/// The FADT pointing at the DSDT and FACS at these guest addresses (through the 64-bit fields;
/// the 32-bit ones stay zero, as the specification asks when the X_ fields are used).
pub fn build(dsdt: u64, facs: u64) -> Vec<u8> {
    let mut t = Sdt::new(*b"FACP", 6);
    t.put(FADT_LEN - 1, &[0]);
    t.put(SCI_INT, &(ACPI_SCI_IRQ as u16).to_le_bytes());
    // SMI_CMD, ACPI_ENABLE, ACPI_DISABLE stay 0: the platform is always in ACPI mode.
    t.put(PM1A_EVT_BLK, &(PM1A_EVT_PORT as u32).to_le_bytes());
    t.put(PM1A_CNT_BLK, &(PM1A_CNT_PORT as u32).to_le_bytes());
    t.put(PM1_EVT_LEN_OFF, &[PM1_EVT_LEN]);
    t.put(PM1_CNT_LEN_OFF, &[PM1_CNT_LEN]);
    t.put(CENTURY, &[REG_CENTURY]);
    t.put(
        IAPC_BOOT_ARCH,
        &(BOOT_ARCH_LEGACY_DEVICES | BOOT_ARCH_NO_VGA).to_le_bytes(),
    );
    let flags = FLAG_WBINVD | FLAG_PROC_C1 | FLAG_PWR_BUTTON | FLAG_SLP_BUTTON | FLAG_RESET_REG_SUP;
    t.put(FLAGS, &flags.to_le_bytes());
    t.put(RESET_REG, &gas(SPACE_SYSTEM_IO, 8, ACCESS_BYTE, RESET_PORT));
    t.put(RESET_VALUE_OFF, &[RESET_VALUE]);
    t.put(MINOR_VERSION, &[5]);
    t.put(X_FIRMWARE_CTRL, &facs.to_le_bytes());
    t.put(X_DSDT, &dsdt.to_le_bytes());
    t.put(
        X_PM1A_EVT_BLK,
        &gas(
            SPACE_SYSTEM_IO,
            PM1_EVT_LEN * 8,
            ACCESS_UNDEFINED,
            PM1A_EVT_PORT,
        ),
    );
    t.put(
        X_PM1A_CNT_BLK,
        &gas(
            SPACE_SYSTEM_IO,
            PM1_CNT_LEN * 8,
            ACCESS_UNDEFINED,
            PM1A_CNT_PORT,
        ),
    );
    t.finish()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{le, table};

    /// Field offsets from the ACPI 6.5 specification, table 5.9 (FADT format).
    #[test]
    fn fields_sit_at_the_spec_offsets() {
        let img = super::super::build(2, &super::super::tests::devices()).unwrap();
        let f = table(&img, img.fadt, b"FACP");
        assert_eq!(f.len(), 276, "FADT revision 6 length");
        assert_eq!(f[8], 6, "major revision");
        assert_eq!(f[131], 5, "minor revision");
        assert_eq!(le(f, 36, 4), 0, "FIRMWARE_CTRL (X_FIRMWARE_CTRL used)");
        assert_eq!(le(f, 40, 4), 0, "DSDT (X_DSDT used)");
        assert_eq!(le(f, 46, 2), 9, "SCI_INT");
        assert_eq!(le(f, 48, 4), 0, "SMI_CMD: always in ACPI mode");
        assert_eq!((f[52], f[53]), (0, 0), "ACPI_ENABLE/DISABLE");
        assert_eq!(le(f, 56, 4), 0x600, "PM1a_EVT_BLK");
        assert_eq!(le(f, 60, 4), 0, "PM1b_EVT_BLK");
        assert_eq!(le(f, 64, 4), 0x604, "PM1a_CNT_BLK");
        assert_eq!(le(f, 76, 4), 0, "PM_TMR_BLK");
        assert_eq!((f[88], f[89]), (4, 2), "PM1_EVT_LEN, PM1_CNT_LEN");
        assert_eq!(f[108], 0x32, "CENTURY");
        assert_eq!(le(f, 109, 2), 0b101, "IAPC_BOOT_ARCH");
        let flags = le(f, 112, 4) as u32;
        assert_ne!(flags & (1 << 10), 0, "RESET_REG_SUP");
        assert_eq!(flags & (1 << 20), 0, "not HW_REDUCED_ACPI");
        // RESET_REG: GAS { SystemIO, 8 bits, offset 0, byte access, 0x64 }, RESET_VALUE 0xFE.
        assert_eq!(&f[116..120], &[1, 8, 0, 1]);
        assert_eq!(le(f, 120, 8), 0x64);
        assert_eq!(f[128], 0xfe);
        assert_eq!(le(f, 132, 8), img.facs, "X_FIRMWARE_CTRL");
        assert_eq!(le(f, 140, 8), img.dsdt, "X_DSDT");
        assert_eq!(&f[148..152], &[1, 32, 0, 0], "X_PM1a_EVT_BLK");
        assert_eq!(le(f, 152, 8), 0x600);
        assert_eq!(&f[172..176], &[1, 16, 0, 0], "X_PM1a_CNT_BLK");
        assert_eq!(le(f, 176, 8), 0x604);
        assert!(f[160..172].iter().all(|&b| b == 0), "no X_PM1b_EVT_BLK");
    }
}
