//! The receiving side: [`Vmm::incoming`].

use super::channel::Channel;
use super::frame::{Kind, MAGIC, VERSION};
use super::transport::{Listener, Stream, Uri};
use super::MigrationError;
use crate::arch::Arch;
use crate::memory::write_guest;
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
    let mut r = Reader::new(f.body());
    let trunc = |e: crate::wire::Truncated| protocol(format!("HELLO: {e}"));
    if r.take("the stream magic", 8).map_err(trunc)? != MAGIC {
        return Err(protocol("not a tetra migration stream"));
    }
    let version = r.u16("the protocol version").map_err(trunc)?;
    if version != VERSION {
        return Err(protocol(format!(
            "the source speaks protocol version {version}; this tetra speaks {VERSION}{}",
            if version < VERSION {
                " (from version 2 on every frame is numbered and END sums up the stream)"
            } else {
                ""
            }
        )));
    }
    let arch: [u8; 8] = r.array("the arch").map_err(trunc)?;
    if arch != magic {
        return Err(protocol(format!(
            "a {} VM cannot come to this {} host",
            String::from_utf8_lossy(&arch),
            A::NAME
        )));
    }
    let page = r.u32("the page size").map_err(trunc)?;
    if u64::from(page) != crate::memory::page_size() {
        return Err(protocol(format!(
            "the source uses {page}-byte pages, this host {}",
            crate::memory::page_size()
        )));
    }
    let conf_version = r.u16("the CONF version").map_err(trunc)?;
    let conf = Section::new(
        &TAG_CONF,
        conf_version,
        r.blob("CONF").map_err(trunc)?.to_vec(),
    );
    let config = sections::read_conf(&conf).map_err(|e| protocol(format!("CONF: {e}")))?;
    let mut vmm = Vmm::<A>::build(config, options, Origin::Incoming)?;
    ch.send(Kind::HelloOk, &[])?;
    ch.start_sequence();

    let page = page as usize;
    let mut state = None;
    let (mut pages, mut round) = (0u64, 0u32);
    loop {
        let f = ch.recv()?;
        match f.kind {
            Kind::Pages if state.is_some() => return Err(protocol("PAGES after STATE")),
            Kind::Pages => {
                let mut r = Reader::new(f.body());
                let trunc = |e: crate::wire::Truncated| protocol(format!("PAGES: {e}"));
                let n = r.count("the page count", 8 + page).map_err(trunc)?;
                let mem = vmm.memory().memory();
                for _ in 0..n {
                    let gpa = r.u64("a page address").map_err(trunc)?;
                    let bytes = r.take("a page", page).map_err(trunc)?;
                    if gpa % page as u64 != 0 {
                        return Err(protocol(format!(
                            "page address {gpa:#x} is not page aligned"
                        )));
                    }
                    write_guest(&mem, "a migrated page", gpa, bytes)
                        .map_err(|e| protocol(format!("PAGES: {e}")))?;
                }
                if !r.is_empty() {
                    return Err(protocol("PAGES: trailing bytes"));
                }
                pages += n as u64;
            }
            Kind::Round => {
                let got = Reader::new(f.body())
                    .u32("the round")
                    .map_err(|e| protocol(format!("ROUND: {e}")))?;
                if got != round || state.is_some() {
                    return Err(protocol(format!(
                        "ROUND {got} where {} was expected",
                        if state.is_some() {
                            "END".to_string()
                        } else {
                            format!("round {round}")
                        }
                    )));
                }
                round += 1;
            }
            Kind::State if state.is_some() => return Err(protocol("a second STATE")),
            Kind::State => {
                let env = Envelope::decode(f.body(), Some((magic, A::NAME)))
                    .map_err(|e| protocol(format!("STATE: {e}")))?;
                state = Some(env);
            }
            Kind::End => {
                // Everything the source sent arrived, once and in order: or nothing starts.
                ch.check_end(f.body(), pages)?;
                break;
            }
            Kind::Error => {
                return Err(MigrationError::Remote {
                    side: "source",
                    message: String::from_utf8_lossy(f.body()).into_owned(),
                })
            }
            k => return Err(protocol(format!("unexpected {k:?} frame"))),
        }
    }
    let env = state.ok_or_else(|| protocol("END before STATE"))?;
    vmm.apply_state(&env, "the migration stream")?;
    ch.send(Kind::Ready, &[])?;
    match ch.recv()?.kind {
        Kind::Go => {
            // The source has stopped for good: the guest is ours whether or not this reaches it.
            let _ = ch.send(Kind::Started, &[]);
            Ok(vmm)
        }
        k => Err(protocol(format!("expected GO, got {k:?}"))),
    }
}
