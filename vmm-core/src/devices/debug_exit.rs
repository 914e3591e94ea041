//! The debug-exit device: a guest write of V ends the VM with status `(V << 1) | 1`, as QEMU's
//! `isa-debug-exit` (x86 port 0xf4, 4 bytes wide).

use crate::bus::BusDevice;
use crate::exit::{ExitNotifier, GuestExit};

/// Ends the VM with the value the guest writes.
pub struct DebugExit {
    exit: ExitNotifier,
}

impl DebugExit {
    /// A debug-exit device ending the VM through `exit`.
    pub fn new(exit: ExitNotifier) -> Self {
        DebugExit { exit }
    }
}

impl BusDevice for DebugExit {
    fn read(&mut self, _offset: u64, data: &mut [u8]) {
        data.fill(0xff);
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        // QEMU takes the value of any write at the device's base, zero-extended.
        if offset != 0 || data.is_empty() || data.len() > 4 {
            return;
        }
        let mut v = [0u8; 4];
        v[..data.len()].copy_from_slice(data);
        self.exit.end(GuestExit::DebugExit(u32::from_le_bytes(v)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_ends_with_value() {
        let n = ExitNotifier::new().unwrap();
        let mut d = DebugExit::new(n.clone());
        d.write(0, &7u32.to_le_bytes());
        assert_eq!(n.reason(), Some(GuestExit::DebugExit(7)));
        assert_eq!(n.reason().unwrap().exit_code(), 15);
        // The first ending wins.
        d.write(0, &[1]);
        assert_eq!(n.reason(), Some(GuestExit::DebugExit(7)));
    }
}
