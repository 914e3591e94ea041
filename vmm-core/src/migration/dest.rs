//! The receiving side: [`Vmm::incoming`].

use super::channel::Channel;
use super::frame::{Kind, MAGIC, VERSION};
use super::transport::{Listener, Stream, Uri};
use super::MigrationError;
use crate::arch::Arch;
use crate::config::VmConfig;
use crate::memory::GuestMemoryMmap;
use crate::snapshot::envelope::{Envelope, Section};
use crate::snapshot::sections::{self, TAG_CONF};
use crate::vm::{Origin, Vmm, VmmOptions};
use crate::wire::Reader;
use std::time::Duration;

fn protocol(why: impl std::fmt::Display) -> MigrationError {
    MigrationError::Protocol(why.to_string())
}

impl<A: Arch> Vmm<A> {
    /// Listens at `uri` for one migration, builds the VM it carries, and returns it once the
    /// source said GO; it is not started. `listening` is called once the socket is bound.
    pub fn incoming(
        uri: &str,
        options: VmmOptions,
        io_timeout: Duration,
        listening: &mut dyn FnMut(&Listener),
    ) -> Result<Vmm<A>, MigrationError> {
        let magic = A::SNAPSHOT_MAGIC.ok_or(MigrationError::Unsupported(A::NAME))?;
        let uri = Uri::parse(uri)?;
        let listener = Listener::bind(&uri)?;
        listening(&listener);
        let mut stream = listener
            .accept()
            .map_err(|e| protocol(format!("accepting on {uri}: {e}")))?;
        stream
            .set_timeouts(Some(io_timeout))
            .map_err(|e| protocol(format!("setting timeouts: {e}")))?;
        let mut ch = Channel::new(&mut *stream);
        let r = receive::<A>(&mut ch, magic, options);
        if let Err(e) = &r {
            // Best effort: tell the source, so that it resumes at once.
            let _ = ch.send(Kind::Error, crate::error_chain::chain(e).as_bytes());
        }
        r
    }
}

fn receive<A: Arch>(
    ch: &mut Channel<'_, dyn Stream>,
    magic: [u8; 8],
    options: VmmOptions,
) -> Result<Vmm<A>, MigrationError> {
    let f = ch.recv()?;
    if f.kind != Kind::Hello {
        return Err(protocol(format!("expected HELLO, got {:?}", f.kind)));
    }
    let (config, mut receiver) =
        Receiver::hello(f.body(), magic, A::NAME, crate::memory::page_size())?;
    let mut vmm = Vmm::<A>::build(config, options, Origin::Incoming)?;
    ch.send(Kind::HelloOk, &[])?;
    ch.start_sequence();
    loop {
        let f = ch.recv()?;
        let mem = vmm.memory().memory();
        match receiver.frame(f.kind, f.body(), &mem)? {
            Flow::End => {
                // Everything the source sent arrived, once and in order: or nothing starts.
                ch.check_end(f.body(), receiver.pages())?;
                break;
            }
            Flow::Arch(section) => apply_arch(&vmm, &section)?,
            Flow::More => {}
        }
        ch.recycle(f);
    }
    let env = receiver.finish()?;
    vmm.apply_state(&env, "the migration stream")?;
    // The source let its disk images' locks go after END: on this host they are ours now.
    vmm.take_disk_locks(super::DISK_LOCK_WAIT)
        .map_err(|e| protocol(crate::error_chain::chain(&e)))?;
    ch.send(Kind::Ready, &[])?;
    match ch.recv()?.kind {
        Kind::Go => {
            // The source has stopped for good: the guest is ours whether or not this reaches it,
            // and so are the frames of its TAP interfaces.
            vmm.attach_tap_queues();
            let _ = ch.send(Kind::Started, &[]);
            Ok(vmm)
        }
        k => Err(protocol(format!("expected GO, got {k:?}"))),
    }
}

/// Applies an ARCH frame's section to the VM being built ([`Arch::apply_precopy_state`]).
fn apply_arch<A: Arch>(vmm: &Vmm<A>, section: &Section) -> Result<(), MigrationError> {
    let sh = vmm.shared();
    match A::apply_precopy_state(&sh.vm, &sh.platform, section) {
        Ok(true) => Ok(()),
        Ok(false) => Err(protocol(format!(
            "ARCH: a {} section (version {}), which {} does not take during pre-copy",
            section.tag_str(),
            section.version,
            A::NAME
        ))),
        Err(e) => Err(protocol(format!("ARCH: {}", crate::error_chain::chain(&e)))),
    }
}

/// After a frame: whether more follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Read the next frame.
    More,
    /// An ARCH frame: arch state for the VM, to apply now, before the next frame.
    Arch(Section),
    /// END: the state is complete.
    End,
}

/// The destination's reading of a stream, from HELLO to END, in plain Rust: what it takes from
/// each frame of an untrusted source, apart from building and starting the VM (so that it is
/// tested, and fuzzed, without KVM).
#[derive(Debug)]
pub struct Receiver {
    magic: [u8; 8],
    arch: &'static str,
    page: usize,
    state: Option<Envelope>,
    /// Pages received so far (END's summary must agree).
    pages: u64,
    /// The ROUND number expected next.
    round: u32,
}

impl Receiver {
    /// Checks a HELLO payload for a destination of arch `arch` (snapshot magic `magic`) whose
    /// host pages are `host_page` bytes: the stream magic, the protocol version, the arch, the
    /// page size; returns the VM's configuration and the receiver for the frames that follow.
    pub fn hello(
        payload: &[u8],
        magic: [u8; 8],
        arch: &'static str,
        host_page: u64,
    ) -> Result<(VmConfig, Receiver), MigrationError> {
        let mut r = Reader::new(payload);
        let trunc = |e: crate::wire::Truncated| protocol(format!("HELLO: {e}"));
        if r.take("the stream magic", 8).map_err(trunc)? != MAGIC {
            return Err(protocol("not a tetra migration stream"));
        }
        let version = r.u16("the protocol version").map_err(trunc)?;
        if version != VERSION {
            return Err(protocol(format!(
                "the source speaks protocol version {version}; this tetra speaks {VERSION}{}",
                if version < VERSION {
                    " (from version 2 on every frame is numbered and END sums up the stream; from 3 on PAGES carries runs)"
                } else {
                    ""
                }
            )));
        }
        let source_arch: [u8; 8] = r.array("the arch").map_err(trunc)?;
        if source_arch != magic {
            return Err(protocol(format!(
                "a {} VM cannot come to this {arch} host",
                String::from_utf8_lossy(&source_arch),
            )));
        }
        let page = r.u32("the page size").map_err(trunc)?;
        if u64::from(page) != host_page {
            return Err(protocol(format!(
                "the source uses {page}-byte pages, this host {host_page}"
            )));
        }
        let conf_version = r.u16("the CONF version").map_err(trunc)?;
        let conf = Section::new(
            &TAG_CONF,
            conf_version,
            r.blob("CONF").map_err(trunc)?.to_vec(),
        );
        let config = sections::read_conf(&conf).map_err(|e| protocol(format!("CONF: {e}")))?;
        let receiver = Receiver {
            magic,
            arch,
            page: page as usize,
            state: None,
            pages: 0,
            round: 0,
        };
        Ok((config, receiver))
    }

    /// Takes one frame after HELLO: pages go into `mem` (each page aligned and inside it), an
    /// ARCH section is returned to be applied, the state envelope is decoded and kept, END ends
    /// the stream; an ERROR from the source or a
    /// frame the source never sends here is an error.
    pub fn frame(
        &mut self,
        kind: Kind,
        payload: &[u8],
        mem: &GuestMemoryMmap,
    ) -> Result<Flow, MigrationError> {
        match kind {
            Kind::Pages if self.state.is_some() => return Err(protocol("PAGES after STATE")),
            Kind::Pages => {
                let n = super::pages::apply(payload, mem, self.page)
                    .map_err(|e| protocol(format!("PAGES: {}", crate::error_chain::chain(&e))))?;
                self.pages += n;
            }
            Kind::Round => {
                let got = Reader::new(payload)
                    .u32("the round")
                    .map_err(|e| protocol(format!("ROUND: {e}")))?;
                if got != self.round || self.state.is_some() {
                    return Err(protocol(format!(
                        "ROUND {got} where {} was expected",
                        if self.state.is_some() {
                            "END".to_string()
                        } else {
                            format!("round {}", self.round)
                        }
                    )));
                }
                self.round += 1;
            }
            Kind::Arch if self.state.is_some() => return Err(protocol("ARCH after STATE")),
            Kind::Arch => return Ok(Flow::Arch(super::read_arch_frame(payload)?)),
            Kind::State if self.state.is_some() => return Err(protocol("a second STATE")),
            Kind::State => {
                let env = Envelope::decode(payload, Some((self.magic, self.arch)))
                    .map_err(|e| protocol(format!("STATE: {e}")))?;
                self.state = Some(env);
            }
            Kind::End => return Ok(Flow::End),
            Kind::Error => {
                return Err(MigrationError::Remote {
                    side: "source",
                    message: String::from_utf8_lossy(payload).into_owned(),
                })
            }
            k => return Err(protocol(format!("unexpected {k:?} frame"))),
        }
        Ok(Flow::More)
    }

    /// How many pages the PAGES frames carried so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// The state envelope, once END came (the last STATE frame's).
    pub fn finish(self) -> Result<Envelope, MigrationError> {
        self.state.ok_or_else(|| protocol("END before STATE"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::sections::conf_section;
    use crate::wire::Writer;
    use vm_memory::{Bytes, GuestAddress};

    const ARCH: [u8; 8] = *b"TETRATST";

    fn hello(arch: &[u8; 8], page: u32) -> Vec<u8> {
        let conf = conf_section(&VmConfig::default());
        let mut w = Writer::new();
        w.bytes(MAGIC);
        w.u16(VERSION);
        w.bytes(arch);
        w.u32(page);
        w.u16(conf.version);
        w.blob(&conf.data);
        w.into_bytes()
    }

    #[test]
    fn a_stream_is_read_frame_by_frame_and_checked() {
        let (config, mut rx) = Receiver::hello(&hello(&ARCH, 4096), ARCH, "test", 4096).unwrap();
        assert_eq!(config.cpus, 1);
        for (bad, why) in [
            (hello(b"TETRAX86", 4096), "cannot come"),
            (hello(&ARCH, 65536), "pages"),
            (hello(&ARCH, 4096)[..20].to_vec(), "HELLO"),
        ] {
            let e = Receiver::hello(&bad, ARCH, "test", 4096).unwrap_err();
            assert!(e.to_string().contains(why), "{e}");
        }
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 1 << 16)]).unwrap();
        let pages = |gpa: u64| {
            let mut w = Writer::new();
            w.u64(gpa);
            w.u32(1);
            w.bytes(&[0]);
            w.bytes(&[7; 4096]);
            w.into_bytes()
        };
        assert_eq!(
            rx.frame(Kind::Pages, &pages(0x2000), &mem).unwrap(),
            Flow::More
        );
        assert_eq!(mem.read_obj::<u8>(GuestAddress(0x2fff)).unwrap(), 7);
        for gpa in [0x2001, 1 << 16] {
            assert!(
                rx.frame(Kind::Pages, &pages(gpa), &mem).is_err(),
                "{gpa:#x}"
            );
        }
        assert!(rx.frame(Kind::Go, &[], &mem).is_err());
        let arch = Section::new(b"HTAB", 2, vec![2, 9]);
        assert_eq!(
            rx.frame(Kind::Arch, &super::super::arch_frame(&arch), &mem)
                .unwrap(),
            Flow::Arch(arch)
        );
        for bad in [
            &b"HTA"[..],
            b"HTAB\x01",
            b"HT\x00B\x01\x00",
            b"HTAB\x00\x00",
        ] {
            assert!(rx.frame(Kind::Arch, bad, &mem).is_err(), "{bad:?}");
        }
        assert!(rx.frame(Kind::State, b"junk", &mem).is_err());
        assert_eq!(rx.frame(Kind::End, &[], &mem).unwrap(), Flow::End);
        assert!(rx
            .finish()
            .unwrap_err()
            .to_string()
            .contains("END before STATE"));
        let (_, mut rx) = Receiver::hello(&hello(&ARCH, 4096), ARCH, "test", 4096).unwrap();
        let state = Envelope::new(ARCH).encode();
        assert_eq!(rx.frame(Kind::State, &state, &mem).unwrap(), Flow::More);
        let arch = super::super::arch_frame(&Section::new(b"HTAB", 2, vec![]));
        let e = rx.frame(Kind::Arch, &arch, &mem).unwrap_err();
        assert!(e.to_string().contains("ARCH after STATE"), "{e}");
        assert_eq!(rx.finish().unwrap(), Envelope::new(ARCH));
    }
}
