//! Device state in snapshots: a device implements [`Stateful`]; the arch registers it under a
//! section tag while building the platform; vmm-core saves and restores every registered device.

use super::envelope::{Envelope, Section};
use crate::wire::Truncated;
use std::sync::{Arc, Mutex};

/// Errors restoring a device.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The section ends early.
    #[error(transparent)]
    Truncated(#[from] Truncated),
    /// A section version this tetra does not know.
    #[error("section version {got} is newer than this tetra's {max}")]
    Version {
        /// The section's version.
        got: u16,
        /// The newest this tetra reads.
        max: u16,
    },
    /// A value out of range.
    #[error("{0}")]
    Invalid(String),
    /// Bytes left over after the state.
    #[error("{0} unexpected trailing bytes")]
    Trailing(usize),
}

/// A device whose state goes into snapshots and migration streams.
pub trait Stateful: Send {
    /// The version of the section [`Stateful::save_state`] writes.
    fn state_version(&self) -> u16 {
        1
    }
    /// The device's state.
    fn save_state(&self) -> Vec<u8>;
    /// Restores state saved by this or an older version of the device.
    fn restore_state(&mut self, version: u16, data: &[u8]) -> Result<(), StateError>;
    /// Whether the device keeps its state across a machine reset (battery-backed, as a PC's
    /// CMOS RAM and clock); every other device goes back to its power-on state.
    fn survives_reset(&self) -> bool {
        false
    }
}

/// A shared stateful device.
pub type SharedState = Arc<Mutex<dyn Stateful>>;

/// Errors of the registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Two devices under one tag.
    #[error("two devices registered their state under {0:?}")]
    Duplicate(String),
    /// A device's section is missing from a file that must have it.
    #[error("the snapshot has no section {0:?} for a device this VM has")]
    Missing(String),
    /// A device's section could not be restored.
    #[error("restoring device state {tag:?}")]
    Restore {
        /// The section tag.
        tag: String,
        /// Why.
        #[source]
        source: StateError,
    },
}

/// The stateful devices of a VM, by section tag.
#[derive(Default)]
pub struct StateRegistry {
    entries: Vec<([u8; 4], SharedState)>,
    /// Tags whose section a snapshot may lack (state added after format 1.2, whose fresh value
    /// is what an older tetra's restore had).
    optional: Vec<[u8; 4]>,
}

impl StateRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        StateRegistry::default()
    }

    /// Registers `device` under `tag`.
    pub fn add(&mut self, tag: &[u8; 4], device: SharedState) -> Result<(), RegistryError> {
        if self.entries.iter().any(|(t, _)| t == tag) {
            return Err(RegistryError::Duplicate(
                String::from_utf8_lossy(tag).into(),
            ));
        }
        self.entries.push((*tag, device));
        Ok(())
    }

    /// Registers `device` under `tag`, whose section a snapshot may lack: the device then keeps
    /// its fresh state (an older tetra did not save it).
    pub fn add_optional(
        &mut self,
        tag: &[u8; 4],
        device: SharedState,
    ) -> Result<(), RegistryError> {
        self.add(tag, device)?;
        self.optional.push(*tag);
        Ok(())
    }

    /// The registered tags.
    pub fn tags(&self) -> impl Iterator<Item = &[u8; 4]> {
        self.entries.iter().map(|(t, _)| t)
    }

    /// One section per device.
    pub fn save(&self) -> Vec<Section> {
        self.entries
            .iter()
            .map(|(tag, d)| {
                let d = d.lock().unwrap_or_else(|e| e.into_inner());
                Section::new(tag, d.state_version(), d.save_state())
            })
            .collect()
    }

    /// Restores every device from its section. From format 1.2 on every device's section must
    /// be there, except [optional](StateRegistry::add_optional) ones; in an older file, a device
    /// without one (a snapshot from before it existed) keeps its fresh state.
    pub fn restore(&self, env: &Envelope) -> Result<(), RegistryError> {
        for (tag, d) in &self.entries {
            if env.minor >= 2 && env.section(tag).is_none() && !self.optional.contains(tag) {
                return Err(RegistryError::Missing(String::from_utf8_lossy(tag).into()));
            }
            if let Some(s) = env.section(tag) {
                d.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .restore_state(s.version, &s.data)
                    .map_err(|source| RegistryError::Restore {
                        tag: s.tag_str(),
                        source,
                    })?;
            }
        }
        Ok(())
    }
}

impl StateRegistry {
    /// A machine reset: puts every device back to the state `sections` saved at power-on (one
    /// per device, from [`StateRegistry::save`] before the VM first ran), except the devices
    /// that [survive a reset](Stateful::survives_reset).
    pub fn reset_to(&self, sections: &[Section]) -> Result<(), RegistryError> {
        for (tag, d) in &self.entries {
            let mut d = d.lock().unwrap_or_else(|e| e.into_inner());
            if d.survives_reset() {
                continue;
            }
            let s = sections
                .iter()
                .find(|s| s.tag == *tag)
                .ok_or_else(|| RegistryError::Missing(String::from_utf8_lossy(tag).into()))?;
            d.restore_state(s.version, &s.data)
                .map_err(|source| RegistryError::Restore {
                    tag: s.tag_str(),
                    source,
                })?;
        }
        Ok(())
    }
}

/// Fails with [`StateError::Version`] when `got` is newer than `max`.
pub fn check_version(got: u16, max: u16) -> Result<(), StateError> {
    if got > max {
        Err(StateError::Version { got, max })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Byte(u8);
    impl Stateful for Byte {
        fn save_state(&self) -> Vec<u8> {
            vec![self.0]
        }
        fn restore_state(&mut self, _: u16, data: &[u8]) -> Result<(), StateError> {
            self.0 = *data.first().ok_or(StateError::Trailing(0))?;
            Ok(())
        }
    }

    struct Battery(u8);
    impl Stateful for Battery {
        fn save_state(&self) -> Vec<u8> {
            vec![self.0]
        }
        fn restore_state(&mut self, _: u16, data: &[u8]) -> Result<(), StateError> {
            self.0 = data[0];
            Ok(())
        }
        fn survives_reset(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_reset_restores_power_on_state_except_battery_backed_devices() {
        let mut reg = StateRegistry::new();
        let plain = Arc::new(Mutex::new(Byte(1)));
        let cmos = Arc::new(Mutex::new(Battery(1)));
        reg.add(b"DEVA", plain.clone()).unwrap();
        reg.add(b"CMOS", cmos.clone()).unwrap();
        let power_on = reg.save();
        plain.lock().unwrap().0 = 7;
        cmos.lock().unwrap().0 = 7;
        reg.reset_to(&power_on).unwrap();
        assert_eq!(plain.lock().unwrap().0, 1, "back to its power-on state");
        assert_eq!(cmos.lock().unwrap().0, 7, "battery-backed: kept");
        assert!(matches!(reg.reset_to(&[]), Err(RegistryError::Missing(t)) if t == "DEVA"));
    }

    #[test]
    fn a_device_section_is_required_from_format_1_2() {
        let mut reg = StateRegistry::new();
        let dev = Arc::new(Mutex::new(Byte(1)));
        reg.add(b"DEVA", dev.clone()).unwrap();
        let mut env = Envelope::new(*b"TETRATST");
        assert_eq!(env.minor, 2);
        assert!(matches!(reg.restore(&env), Err(RegistryError::Missing(t)) if t == "DEVA"));
        // An older file without the section: the device keeps its fresh state.
        env.minor = 1;
        reg.restore(&env).unwrap();
        assert_eq!(dev.lock().unwrap().0, 1);
        env.minor = 2;
        env.push(Section::new(b"DEVA", 1, vec![9]));
        reg.restore(&env).unwrap();
        assert_eq!(dev.lock().unwrap().0, 9);
        assert!(reg.add(b"DEVA", dev).is_err());
    }

    #[test]
    fn an_optional_section_may_be_missing_and_is_restored_when_there() {
        let mut reg = StateRegistry::new();
        let dev = Arc::new(Mutex::new(Byte(1)));
        reg.add_optional(b"OPTL", dev.clone()).unwrap();
        let mut env = Envelope::new(*b"TETRATST");
        reg.restore(&env).unwrap();
        assert_eq!(dev.lock().unwrap().0, 1, "fresh without its section");
        env.push(Section::new(b"OPTL", 1, vec![5]));
        reg.restore(&env).unwrap();
        assert_eq!(dev.lock().unwrap().0, 5);
        // Its section is still saved, and a bad one still refused.
        assert_eq!(reg.save()[0].tag, *b"OPTL");
        let mut bad = Envelope::new(*b"TETRATST");
        bad.push(Section::new(b"OPTL", 1, vec![]));
        assert!(matches!(
            reg.restore(&bad),
            Err(RegistryError::Restore { .. })
        ));
    }
}
