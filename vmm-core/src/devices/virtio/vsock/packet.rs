//! The virtio-vsock packet header (`struct virtio_vsock_hdr`, virtio 1.2 5.10.6): 44 bytes,
//! little endian, in front of every packet either way.
//!
//! ```text
//! 0   u64 src_cid     8   u64 dst_cid
//! 16  u32 src_port    20  u32 dst_port
//! 24  u32 len         the payload's bytes after the header (RW only)
//! 28  u16 type        1 STREAM (the only type offered: no VIRTIO_VSOCK_F_SEQPACKET)
//! 30  u16 op          REQUEST 1, RESPONSE 2, RST 3, SHUTDOWN 4, RW 5, CREDIT_UPDATE 6,
//!                     CREDIT_REQUEST 7
//! 32  u32 flags       SHUTDOWN: bit 0 no more receives, bit 1 no more sends
//! 36  u32 buf_alloc   the sender's receive buffer for this connection
//! 40  u32 fwd_cnt     the bytes the sender has consumed from it so far (wrapping)
//! ```
//!
//! A header from the guest is plain data: [`Header::decode`] takes any 44 bytes, and
//! [`Header::check`] says what is wrong with it before anything acts on it.

/// The header's size.
pub const HDR_LEN: usize = 44;
/// The host's CID (`VMADDR_CID_HOST`).
pub const HOST_CID: u64 = 2;
/// The one socket type: a stream.
pub const TYPE_STREAM: u16 = 1;
/// The most payload one packet carries either way (Linux's `VIRTIO_VSOCK_MAX_PKT_BUF_SIZE`).
pub const MAX_PAYLOAD: usize = 64 * 1024;

/// `SHUTDOWN` flag: the sender will receive no more.
pub const SHUTDOWN_RCV: u32 = 1;
/// `SHUTDOWN` flag: the sender will send no more.
pub const SHUTDOWN_SEND: u32 = 2;

/// A packet's operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Op {
    /// Open a connection.
    Request = 1,
    /// Accept it.
    Response = 2,
    /// Refuse or end it.
    Rst = 3,
    /// Half or fully close it.
    Shutdown = 4,
    /// Data.
    Rw = 5,
    /// The sender's credit (`buf_alloc`, `fwd_cnt`) changed.
    CreditUpdate = 6,
    /// Asks for a credit update.
    CreditRequest = 7,
}

impl Op {
    /// The operation numbered `v`, if there is one.
    pub fn from_u16(v: u16) -> Option<Op> {
        Some(match v {
            1 => Op::Request,
            2 => Op::Response,
            3 => Op::Rst,
            4 => Op::Shutdown,
            5 => Op::Rw,
            6 => Op::CreditUpdate,
            7 => Op::CreditRequest,
            _ => return None,
        })
    }
}

/// A decoded header (fields as on the wire; `op` unchecked).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// The sender's CID.
    pub src_cid: u64,
    /// The receiver's CID.
    pub dst_cid: u64,
    /// The sender's port.
    pub src_port: u32,
    /// The receiver's port.
    pub dst_port: u32,
    /// The payload's length.
    pub len: u32,
    /// The socket type.
    pub type_: u16,
    /// The operation, as a number.
    pub op: u16,
    /// The operation's flags.
    pub flags: u32,
    /// The sender's receive buffer.
    pub buf_alloc: u32,
    /// What the sender consumed of it.
    pub fwd_cnt: u32,
}

/// What is wrong with a header from the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Shorter than a header.
    #[error("{0} bytes, shorter than a header")]
    Short(usize),
    /// The source is not the guest.
    #[error("source CID {0} is not the guest's")]
    SrcCid(u64),
    /// The destination is not the host.
    #[error("destination CID {0} is not the host")]
    DstCid(u64),
    /// Not a stream.
    #[error("socket type {0} is not a stream")]
    Type(u16),
    /// No such operation.
    #[error("operation {0} does not exist")]
    Op(u16),
    /// A payload where the operation has none, longer than a packet may carry, or longer
    /// than the buffer it came in.
    #[error("a payload of {len} bytes ({room} in the buffer)")]
    Len {
        /// The header's length.
        len: u32,
        /// The bytes after the header.
        room: usize,
    },
}

fn u16_at(b: &[u8; HDR_LEN], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8; HDR_LEN], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8; HDR_LEN], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

impl Header {
    /// Decodes 44 bytes.
    pub fn decode(b: &[u8; HDR_LEN]) -> Header {
        Header {
            src_cid: u64_at(b, 0),
            dst_cid: u64_at(b, 8),
            src_port: u32_at(b, 16),
            dst_port: u32_at(b, 20),
            len: u32_at(b, 24),
            type_: u16_at(b, 28),
            op: u16_at(b, 30),
            flags: u32_at(b, 32),
            buf_alloc: u32_at(b, 36),
            fwd_cnt: u32_at(b, 40),
        }
    }

    /// Encodes it.
    pub fn encode(&self) -> [u8; HDR_LEN] {
        let mut b = [0u8; HDR_LEN];
        b[0..8].copy_from_slice(&self.src_cid.to_le_bytes());
        b[8..16].copy_from_slice(&self.dst_cid.to_le_bytes());
        b[16..20].copy_from_slice(&self.src_port.to_le_bytes());
        b[20..24].copy_from_slice(&self.dst_port.to_le_bytes());
        b[24..28].copy_from_slice(&self.len.to_le_bytes());
        b[28..30].copy_from_slice(&self.type_.to_le_bytes());
        b[30..32].copy_from_slice(&self.op.to_le_bytes());
        b[32..36].copy_from_slice(&self.flags.to_le_bytes());
        b[36..40].copy_from_slice(&self.buf_alloc.to_le_bytes());
        b[40..44].copy_from_slice(&self.fwd_cnt.to_le_bytes());
        b
    }

    /// A header from the host to the guest `guest_cid`: from host port `local` to guest port
    /// `peer`.
    pub fn to_guest(guest_cid: u64, local: u32, peer: u32, op: Op) -> Header {
        Header {
            src_cid: HOST_CID,
            dst_cid: guest_cid,
            src_port: local,
            dst_port: peer,
            type_: TYPE_STREAM,
            op: op as u16,
            ..Header::default()
        }
    }

    /// Checks a header the guest `guest_cid` sent, with `room` bytes after it in its buffer:
    /// its operation.
    pub fn check(&self, guest_cid: u64, room: usize) -> Result<Op, PacketError> {
        if self.src_cid != guest_cid {
            return Err(PacketError::SrcCid(self.src_cid));
        }
        if self.dst_cid != HOST_CID {
            return Err(PacketError::DstCid(self.dst_cid));
        }
        if self.type_ != TYPE_STREAM {
            return Err(PacketError::Type(self.type_));
        }
        let op = Op::from_u16(self.op).ok_or(PacketError::Op(self.op))?;
        let len = self.len as usize;
        let fits = len <= room && len <= MAX_PAYLOAD;
        if !fits || (op != Op::Rw && len != 0) {
            return Err(PacketError::Len {
                len: self.len,
                room,
            });
        }
        Ok(op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_round_trips_at_its_offsets() {
        let h = Header {
            src_cid: 3,
            dst_cid: 2,
            src_port: 0x1234,
            dst_port: 52,
            len: 9,
            type_: 1,
            op: 5,
            flags: 0,
            buf_alloc: 0x40000,
            fwd_cnt: 77,
        };
        let b = h.encode();
        assert_eq!(b[0], 3);
        assert_eq!(b[8], 2);
        assert_eq!(&b[16..18], &[0x34, 0x12]);
        assert_eq!(b[24], 9);
        assert_eq!(b[30], 5);
        assert_eq!(&b[36..40], &0x40000u32.to_le_bytes());
        assert_eq!(Header::decode(&b), h);
    }

    #[test]
    fn check_refuses_what_the_guest_cannot_send() {
        let ok = Header {
            src_cid: 3,
            dst_cid: HOST_CID,
            type_: TYPE_STREAM,
            op: Op::Rw as u16,
            len: 10,
            ..Header::default()
        };
        assert_eq!(ok.check(3, 10), Ok(Op::Rw));
        assert_eq!(ok.check(4, 10), Err(PacketError::SrcCid(3)));
        assert_eq!(ok.check(3, 9), Err(PacketError::Len { len: 10, room: 9 }));
        let huge = Header {
            len: u32::MAX,
            ..ok
        };
        assert!(matches!(
            huge.check(3, usize::MAX),
            Err(PacketError::Len { .. })
        ));
        let req = Header {
            op: Op::Request as u16,
            ..ok
        };
        assert!(matches!(req.check(3, 10), Err(PacketError::Len { .. })));
        for op in [0, 8, 0xffff] {
            let bad = Header { op, len: 0, ..ok };
            assert_eq!(bad.check(3, 0), Err(PacketError::Op(op)));
        }
        let dgram = Header { type_: 2, ..ok };
        assert_eq!(dgram.check(3, 10), Err(PacketError::Type(2)));
        let other = Header { dst_cid: 5, ..ok };
        assert_eq!(other.check(3, 10), Err(PacketError::DstCid(5)));
    }
}
