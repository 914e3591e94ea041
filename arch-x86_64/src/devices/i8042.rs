//! An i8042 keyboard controller with no keyboard: enough for guests to probe it and to reset the
//! machine with command 0xFE (pulse the reset line), which ends the VM.
//!
//! Mapped at port 0x60 with length 5: offset 0 is the data port (0x60), offset 4 the
//! command/status port (0x64).

use vmm_core::bus::BusDevice;
use vmm_core::exit::{ExitNotifier, GuestExit};
use vmm_core::snapshot::{check_version, StateError, Stateful};
use vmm_core::wire::{Reader, Writer};

const STATUS_OUTPUT_FULL: u8 = 1 << 0;
const STATUS_SYSTEM_FLAG: u8 = 1 << 2;
const STATUS_COMMAND: u8 = 1 << 3;

const CMD_READ_CTR: u8 = 0x20;
const CMD_WRITE_CTR: u8 = 0x60;
const CMD_SELF_TEST: u8 = 0xaa;
const CMD_KBD_TEST: u8 = 0xab;
const CMD_DISABLE_KBD: u8 = 0xad;
const CMD_ENABLE_KBD: u8 = 0xae;
const CMD_READ_OUTPUT_PORT: u8 = 0xd0;
const CMD_PULSE_RESET: u8 = 0xfe;

/// The controller.
pub struct I8042 {
    exit: ExitNotifier,
    control: u8,
    status: u8,
    output: Option<u8>,
    pending_write_ctr: bool,
}

impl I8042 {
    /// A controller whose reset line ends the VM through `exit`.
    pub fn new(exit: ExitNotifier) -> Self {
        I8042 {
            exit,
            control: 0x30,
            status: STATUS_SYSTEM_FLAG,
            output: None,
            pending_write_ctr: false,
        }
    }

    fn command(&mut self, cmd: u8) {
        self.status |= STATUS_COMMAND;
        match cmd {
            CMD_READ_CTR => self.output = Some(self.control),
            CMD_WRITE_CTR => self.pending_write_ctr = true,
            CMD_SELF_TEST => self.output = Some(0x55),
            CMD_KBD_TEST => self.output = Some(0x00),
            CMD_DISABLE_KBD => self.control |= 0x10,
            CMD_ENABLE_KBD => self.control &= !0x10,
            CMD_READ_OUTPUT_PORT => self.output = Some(0x01),
            CMD_PULSE_RESET => self.exit.end(GuestExit::Reset),
            _ => {}
        }
    }
}

impl BusDevice for I8042 {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let v = match offset {
            0 => {
                self.status &= !STATUS_OUTPUT_FULL;
                self.output.take().unwrap_or(0)
            }
            4 => {
                let full = if self.output.is_some() {
                    STATUS_OUTPUT_FULL
                } else {
                    0
                };
                self.status | full
            }
            _ => 0xff,
        };
        data.fill(0);
        if let Some(b) = data.first_mut() {
            *b = v;
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let Some(&v) = data.first() else { return };
        match offset {
            0 => {
                self.status &= !STATUS_COMMAND;
                if std::mem::take(&mut self.pending_write_ctr) {
                    self.control = v;
                }
            }
            4 => self.command(v),
            _ => {}
        }
    }
}

/// Control, status, a pending output byte, a pending control write (section version 1).
impl Stateful for I8042 {
    fn save_state(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(self.control);
        w.u8(self.status);
        w.u8(self.output.is_some() as u8);
        w.u8(self.output.unwrap_or(0));
        w.u8(self.pending_write_ctr as u8);
        w.into_bytes()
    }

    fn restore_state(&mut self, version: u16, data: &[u8]) -> Result<(), StateError> {
        check_version(version, 1)?;
        let mut r = Reader::new(data);
        self.control = r.u8("the i8042 control byte")?;
        self.status = r.u8("the i8042 status")?;
        let full = r.u8("the i8042 output flag")? != 0;
        let out = r.u8("the i8042 output byte")?;
        self.output = full.then_some(out);
        self.pending_write_ctr = r.u8("the i8042 pending write")? != 0;
        if !r.is_empty() {
            return Err(StateError::Trailing(r.remaining()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(d: &mut I8042, off: u64) -> u8 {
        let mut b = [0u8];
        d.read(off, &mut b);
        b[0]
    }

    #[test]
    fn state_round_trips() {
        let mut a = I8042::new(ExitNotifier::new().unwrap());
        a.write(4, &[CMD_SELF_TEST]);
        let mut b = I8042::new(ExitNotifier::new().unwrap());
        b.restore_state(1, &a.save_state()).unwrap();
        assert_eq!(read(&mut b, 0), 0x55);
        assert!(b.restore_state(1, &[0, 0]).is_err());
    }

    #[test]
    fn self_test_control_register_and_reset() {
        let n = ExitNotifier::new().unwrap();
        let mut d = I8042::new(n.clone());
        d.write(4, &[CMD_SELF_TEST]);
        assert_ne!(read(&mut d, 4) & STATUS_OUTPUT_FULL, 0);
        assert_eq!(read(&mut d, 0), 0x55);
        assert_eq!(read(&mut d, 4) & STATUS_OUTPUT_FULL, 0);
        d.write(4, &[CMD_WRITE_CTR]);
        d.write(0, &[0x47]);
        d.write(4, &[CMD_READ_CTR]);
        assert_eq!(read(&mut d, 0), 0x47);
        assert_eq!(n.reason(), None);
        d.write(4, &[CMD_PULSE_RESET]);
        assert_eq!(n.reason(), Some(GuestExit::Reset));
    }
}
