//! `tetra inspect its SNAPSHOT`: the ITS tables an arm64 snapshot's guest memory holds, decoded the
//! way a restore reads them ([`crate::its_tables`]), as JSON, with the ITS registers they hang off
//! and every problem a restore would refuse. Works on any host: nothing here needs KVM.

use crate::its_tables::{self, ItsTableError};
use crate::snapshot::{self, Arm64SnapshotError, ITSR, SNAPSHOT_MAGIC};
use std::path::Path;
use thiserror::Error;
use vmm_core::snapshot::envelope::MAX_ENVELOPE_BYTES;
use vmm_core::snapshot::memfile::{self, MemFileError};
use vmm_core::snapshot::sections::{self, SectionError, TAG_CONF, TAG_MEMS};
use vmm_core::snapshot::{Envelope, EnvelopeError};

/// Why `inspect its` could not print the tables.
#[derive(Debug, Error)]
pub enum InspectError {
    /// The state file cannot be read.
    #[error("cannot read the state file")]
    File(#[source] vmm_core::files::FileError),
    /// Not an arm64 snapshot, or a malformed one.
    #[error("cannot read the arm64 snapshot")]
    Envelope(#[source] EnvelopeError),
    /// A section malformed.
    #[error("its {0} section")]
    Section(&'static str, #[source] SectionError),
    /// A section missing.
    #[error("the snapshot has no {0} section")]
    Missing(&'static str),
    /// The snapshot's VM has no ITS.
    #[error("the snapshot's VM has no ITS (it ran without --irqchip gicv3-its)")]
    NoIts,
    /// The ITS registers do not decode.
    #[error("its ITSR section")]
    Its(#[source] Arm64SnapshotError),
    /// The memory file cannot be opened or mapped.
    #[error("cannot map the memory file {path}")]
    Memory {
        /// The memory file.
        path: String,
        /// Why.
        #[source]
        source: MemFileError,
    },
    /// The memory file cannot be opened.
    #[error("cannot open the memory file")]
    MemoryFile(#[source] vmm_core::files::FileError),
    /// The tables cannot be read at all (a register that describes no table, memory that is not
    /// there).
    #[error("the ITS tables")]
    Tables(#[source] ItsTableError),
}

/// The JSON `tetra inspect its` prints for the snapshot at `path`.
pub fn inspect_its(path: &Path) -> Result<String, InspectError> {
    let bytes =
        vmm_core::files::read_regular(path, MAX_ENVELOPE_BYTES).map_err(InspectError::File)?;
    let env = Envelope::decode(&bytes, Some((SNAPSHOT_MAGIC, crate::Arm64::NAME)))
        .map_err(InspectError::Envelope)?;
    let find = |tag: &[u8; 4], name: &'static str| {
        env.sections
            .iter()
            .find(|s| &s.tag == tag)
            .ok_or(InspectError::Missing(name))
    };
    let conf = sections::read_conf(find(&TAG_CONF, "CONF")?)
        .map_err(|e| InspectError::Section("CONF", e))?;
    let its = match env.sections.iter().find(|s| s.tag == ITSR.tag) {
        Some(s) => snapshot::decode_its(s).map_err(InspectError::Its)?,
        None => return Err(InspectError::NoIts),
    };
    let mems = sections::read_mems(find(&TAG_MEMS, "MEMS")?)
        .map_err(|e| InspectError::Section("MEMS", e))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mem_path = dir.join(&mems.file);
    let (f, _) = vmm_core::files::open_regular(&mem_path).map_err(InspectError::MemoryFile)?;
    let mem = memfile::map(&f, &mems.regions).map_err(|source| InspectError::Memory {
        path: mem_path.display().to_string(),
        source,
    })?;
    let tables =
        its_tables::read_tables(&its.baser, &mem, conf.cpus).map_err(InspectError::Tables)?;
    let basers: Vec<String> = its.baser.iter().map(|b| format!("{b:#018x}")).collect();
    Ok(vmm_core::json::pretty(&serde_json::json!({
        "snapshot": path.display().to_string(),
        "vcpus": conf.cpus,
        "registers": {
            "GITS_IIDR": format!("{:#x}", its.iidr),
            "GITS_CTLR": format!("{:#x}", its.ctlr),
            "GITS_CBASER": format!("{:#018x}", its.cbaser),
            "GITS_CREADR": format!("{:#x}", its.creadr),
            "GITS_CWRITER": format!("{:#x}", its.cwriter),
            "GITS_BASER": basers,
        },
        "tables": tables.to_json(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_an_arm64_snapshot_is_refused() {
        let dir = std::env::temp_dir().join(format!("tetra-inspect-its-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = inspect_its(&dir.join("none.snap")).unwrap_err();
        assert!(matches!(missing, InspectError::File(_)), "{missing}");
        let other = dir.join("x86.snap");
        std::fs::write(&other, Envelope::new(*b"TETRAX86").encode()).unwrap();
        let e = inspect_its(&other).unwrap_err();
        assert!(matches!(e, InspectError::Envelope(_)), "{e}");
        // An arm64 envelope without CONF.
        let bare = dir.join("bare.snap");
        std::fs::write(&bare, Envelope::new(SNAPSHOT_MAGIC).encode()).unwrap();
        let e = inspect_its(&bare).unwrap_err();
        assert_eq!(e.to_string(), "the snapshot has no CONF section");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
