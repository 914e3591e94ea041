//! The FADT (signature "FACP", revision 6.5, 276 bytes): a full (not hardware-reduced) ACPI
//! platform with the PM1a event block at 0x600 and control block at 0x604 (the `Pm1a` device,
//! where SLP_TYP 5 + SLP_EN powers off), no SMI command port (the platform is always in ACPI
//! mode), SCI on ISA IRQ 9, the fixed-feature power button (PWR_BUTTON clear), and the reset register at the i8042 command port (0x64, value 0xFE:
//! pulse the reset line), so `reboot=acpi` ends the VM like the keyboard-controller reset does.
//!
//! Built with `acpi_tables::fadt::FADTBuilder`, whose fields are the revision 6.5 layout
//! (zerocopy little-endian types: right on a big-endian host too).

use super::{OEM_ID, OEM_REVISION, OEM_TABLE_ID};
use crate::devices::cmos::REG_CENTURY;
use crate::layout::{ACPI_SCI_IRQ, I8042_PORT, PM1A_CNT_PORT, PM1A_EVT_PORT, PM_TMR_PORT};
use acpi_tables::fadt::{FADTBuilder, Flags};
use acpi_tables::gas::{AccessSize, AddressSpace, GAS};
use acpi_tables::Aml;

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
/// Fixed feature flags: WBINVD works, C1 (HLT) on every processor, no fixed-feature sleep button
/// (PWR_BUTTON clear: the fixed-feature power button is there, PM1 PWRBTN_STS/PWRBTN_EN), a
/// 32-bit PM timer, the reset register is supported.
pub const FLAGS: [Flags; 5] = [
    Flags::Wbinvd,
    Flags::ProcC1,
    Flags::SlpButton,
    Flags::TmrValExt,
    Flags::ResetRegSup,
];

/// A System I/O register of `bits` bits at `port`.
fn io_register(bits: u8, access: AccessSize, port: u64) -> GAS {
    GAS::new(AddressSpace::SystemIo, bits, 0, access, port)
}

/// The FADT pointing at the DSDT and FACS at these guest addresses: the DSDT through the 64-bit
/// field (the 32-bit one zero), the FACS through both FIRMWARE_CTRL and X_FIRMWARE_CTRL (ACPI
/// lets the 32-bit field hold the same address, and OSPMs that read only it find the FACS, as
/// under QEMU, whose FADT has only the 32-bit one).
pub fn build(dsdt: u64, facs: u64) -> Vec<u8> {
    // SMI_CMD, ACPI_ENABLE, ACPI_DISABLE stay 0: the platform is always in ACPI mode. The
    // preferred PM profile stays 0 (unspecified).
    let mut f = FADTBuilder::new(OEM_ID, OEM_TABLE_ID, OEM_REVISION)
        .dsdt_64(dsdt)
        .firmware_ctrl_64(facs);
    // (The builder's firmware_ctrl_32 would clear the 64-bit field.)
    if let Ok(low) = u32::try_from(facs) {
        f.firmware_ctrl = low.into();
    }
    for flag in FLAGS {
        f = f.flag(flag);
    }
    f.sci_int = (ACPI_SCI_IRQ as u16).into();
    f.pm1a_evt_blk = (PM1A_EVT_PORT as u32).into();
    f.pm1a_cnt_blk = (PM1A_CNT_PORT as u32).into();
    f.pm1_evt_len = PM1_EVT_LEN;
    f.pm1_cnt_len = PM1_CNT_LEN;
    f.pm_tmr_blk = (PM_TMR_PORT as u32).into();
    f.pm_tmr_len = 4;
    f.x_pm_tmr_blk = io_register(32, AccessSize::DwordAccess, PM_TMR_PORT);
    f.century = REG_CENTURY;
    f.iapc_boot_arch = (BOOT_ARCH_LEGACY_DEVICES | BOOT_ARCH_NO_VGA).into();
    f.reset_reg = io_register(8, AccessSize::ByteAccess, RESET_PORT);
    f.reset_value = RESET_VALUE;
    // The access size of the PM1 blocks stays undefined (legacy reasons: the OS accesses the
    // registers at their own width).
    f.x_pm1a_evt_blk = io_register(PM1_EVT_LEN * 8, AccessSize::Undefined, PM1A_EVT_PORT);
    f.x_pm1a_cnt_blk = io_register(PM1_CNT_LEN * 8, AccessSize::Undefined, PM1A_CNT_PORT);
    let mut bytes = Vec::with_capacity(FADT_LEN);
    f.finalize().to_aml_bytes(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::super::tests::{le, table};
    use acpi_tables::gas::AccessSize;
    use acpi_tables::Aml;

    /// Field offsets from the ACPI 6.5 specification, table 5.9 (FADT format).
    #[test]
    fn fields_sit_at_the_spec_offsets() {
        let img = super::super::build(2, &super::super::tests::devices()).unwrap();
        let f = table(&img, img.fadt, b"FACP");
        assert_eq!(f.len(), 276, "FADT revision 6 length");
        assert_eq!(f[8], 6, "major revision");
        assert_eq!(f[131], 5, "minor revision");
        assert_eq!(
            le(f, 36, 4),
            img.facs,
            "FIRMWARE_CTRL (and X_FIRMWARE_CTRL)"
        );
        assert_eq!(le(f, 40, 4), 0, "DSDT (X_DSDT used)");
        assert_eq!(le(f, 46, 2), 9, "SCI_INT");
        assert_eq!(le(f, 48, 4), 0, "SMI_CMD: always in ACPI mode");
        assert_eq!((f[52], f[53]), (0, 0), "ACPI_ENABLE/DISABLE");
        assert_eq!(le(f, 56, 4), 0x600, "PM1a_EVT_BLK");
        assert_eq!(le(f, 60, 4), 0, "PM1b_EVT_BLK");
        assert_eq!(le(f, 64, 4), 0x604, "PM1a_CNT_BLK");
        assert_eq!(le(f, 76, 4), 0x608, "PM_TMR_BLK");
        assert_eq!(f[91], 4, "PM_TMR_LEN");
        assert_eq!(&f[208..212], &[1, 32, 0, 3], "X_PM_TMR_BLK");
        assert_eq!(le(f, 212, 8), 0x608);
        assert_eq!((f[88], f[89]), (4, 2), "PM1_EVT_LEN, PM1_CNT_LEN");
        assert_eq!(f[108], 0x32, "CENTURY");
        assert_eq!(le(f, 109, 2), 0b101, "IAPC_BOOT_ARCH");
        let flags = le(f, 112, 4) as u32;
        assert_ne!(flags & (1 << 10), 0, "RESET_REG_SUP");
        assert_eq!(flags & (1 << 20), 0, "not HW_REDUCED_ACPI");
        // PWR_BUTTON clear: the fixed-feature power button is present.
        assert_eq!(flags & (1 << 4), 0, "PWR_BUTTON");
        // WBINVD, PROC_C1, SLP_BUTTON, TMR_VAL_EXT, RESET_REG_SUP and nothing else.
        assert_eq!(flags, 0b101_0010_0101, "flags");
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
        assert!(
            f[184..208].iter().all(|&b| b == 0),
            "no X_PM1b_CNT_BLK, X_PM2_CNT_BLK"
        );
        assert!(
            f[220..276].iter().all(|&b| b == 0),
            "nothing after X_PM_TMR_BLK"
        );
    }

    /// The Generic Address Structure (ACPI 6.5, table 5.1) as the crate serialises it.
    #[test]
    fn gas_layout() {
        let mut g = Vec::new();
        super::io_register(16, AccessSize::ByteAccess, 0x604).to_aml_bytes(&mut g);
        assert_eq!(g, [1, 16, 0, 1, 4, 6, 0, 0, 0, 0, 0, 0]);
    }
}
