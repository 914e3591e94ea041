//! QEMU's firmware configuration device, legacy (non-DMA) interface: a 16-bit selector register at
//! offset 0 and an 8-bit data register at offset 1 (x86: ports 0x510/0x511).

use crate::bus::BusDevice;
use crate::snapshot::{check_version, StateError, Stateful};
use crate::wire::{Reader, Writer};
use std::collections::BTreeMap;

/// Item keys (QEMU's `FW_CFG_*`).
pub mod keys {
    /// "QEMU".
    pub const SIGNATURE: u16 = 0x00;
    /// Interface bits: bit 0 traditional, bit 1 DMA.
    pub const ID: u16 = 0x01;
    /// Guest RAM in bytes, u64 LE.
    pub const RAM_SIZE: u16 = 0x03;
    /// Boot vCPU count, u16 LE.
    pub const NB_CPUS: u16 = 0x05;
    /// Maximum vCPU count, u16 LE.
    pub const MAX_CPUS: u16 = 0x0f;
    /// Length of the kernel command line including its NUL, u32 LE.
    pub const CMDLINE_SIZE: u16 = 0x14;
    /// The kernel command line, NUL-terminated.
    pub const CMDLINE_DATA: u16 = 0x15;
    /// The file directory (count and entries, big-endian).
    pub const FILE_DIR: u16 = 0x19;
}

/// The device: a map from key to item bytes, a selector and a read offset.
#[derive(Clone, Debug, Default)]
pub struct FwCfg {
    items: BTreeMap<u16, Vec<u8>>,
    selected: u16,
    offset: usize,
}

impl FwCfg {
    /// The device with the standard items for `cpus` vCPUs, `ram_bytes` of RAM and `cmdline`.
    pub fn new(cpus: u16, ram_bytes: u64, cmdline: &str) -> Self {
        let mut f = FwCfg::default();
        f.insert(keys::SIGNATURE, b"QEMU".to_vec());
        f.insert(keys::ID, 1u32.to_le_bytes().to_vec());
        f.insert(keys::RAM_SIZE, ram_bytes.to_le_bytes().to_vec());
        f.insert(keys::NB_CPUS, cpus.to_le_bytes().to_vec());
        f.insert(keys::MAX_CPUS, cpus.to_le_bytes().to_vec());
        let mut cmd = cmdline.as_bytes().to_vec();
        cmd.push(0);
        f.insert(
            keys::CMDLINE_SIZE,
            (cmd.len() as u32).to_le_bytes().to_vec(),
        );
        f.insert(keys::CMDLINE_DATA, cmd);
        f.insert(keys::FILE_DIR, 0u32.to_be_bytes().to_vec());
        f
    }

    /// Sets item `key`.
    pub fn insert(&mut self, key: u16, data: Vec<u8>) {
        self.items.insert(key, data);
    }

    fn next_byte(&mut self) -> u8 {
        let b = self
            .items
            .get(&self.selected)
            .and_then(|d| d.get(self.offset))
            .copied()
            .unwrap_or(0);
        self.offset = self.offset.saturating_add(1);
        b
    }
}

impl BusDevice for FwCfg {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        match offset {
            1 => {
                for b in data.iter_mut() {
                    *b = self.next_byte();
                }
            }
            _ => data.fill(0),
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        if offset == 0 && data.len() == 2 {
            self.selected = u16::from_le_bytes([data[0], data[1]]);
            self.offset = 0;
        }
    }
}

/// The selector and read position (section version 1); the items are rebuilt from the VM's
/// configuration.
impl Stateful for FwCfg {
    fn save_state(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u16(self.selected);
        w.u64(self.offset as u64);
        w.into_bytes()
    }

    fn restore_state(&mut self, version: u16, data: &[u8]) -> Result<(), StateError> {
        check_version(version, 1)?;
        let mut r = Reader::new(data);
        self.selected = r.u16("the fw_cfg selector")?;
        self.offset = usize::try_from(r.u64("the fw_cfg offset")?).unwrap_or(usize::MAX);
        if !r.is_empty() {
            return Err(StateError::Trailing(r.remaining()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_keeps_the_read_position() {
        let mut a = FwCfg::new(2, 1 << 20, "");
        a.write(0, &keys::SIGNATURE.to_le_bytes());
        let mut b = [0u8];
        a.read(1, &mut b);
        let mut c = FwCfg::new(2, 1 << 20, "");
        c.restore_state(1, &a.save_state()).unwrap();
        c.read(1, &mut b);
        assert_eq!(b[0], b'E');
        assert!(c.restore_state(1, &[1, 2, 3]).is_err());
    }

    fn read_item(f: &mut FwCfg, key: u16, n: usize) -> Vec<u8> {
        f.write(0, &key.to_le_bytes());
        (0..n)
            .map(|_| {
                let mut b = [0u8];
                f.read(1, &mut b);
                b[0]
            })
            .collect()
    }

    #[test]
    fn standard_items() {
        let mut f = FwCfg::new(4, 256 << 20, "console=ttyS0");
        assert_eq!(read_item(&mut f, keys::SIGNATURE, 4), b"QEMU");
        assert_eq!(read_item(&mut f, keys::NB_CPUS, 2), [4, 0]);
        assert_eq!(
            read_item(&mut f, keys::RAM_SIZE, 8),
            (256u64 << 20).to_le_bytes()
        );
        assert_eq!(
            read_item(&mut f, keys::CMDLINE_SIZE, 4),
            14u32.to_le_bytes()
        );
        // Past the end of an item, and unknown items, read as zero.
        assert_eq!(read_item(&mut f, keys::NB_CPUS, 4), [4, 0, 0, 0]);
        assert_eq!(read_item(&mut f, 0x7777, 2), [0, 0]);
    }
}
