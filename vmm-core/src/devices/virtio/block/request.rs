//! One virtio-blk request (virtio 1.2, 5.2.6): checked whole, carried out on the disk, answered
//! with a status byte.
//!
//! A request is a 16-byte header the device reads (`type`, `ioprio`, `sector`, little-endian),
//! then data (read by the device for `OUT`, `DISCARD` and `WRITE_ZEROES`, written by it for `IN`
//! and `GET_ID`), then one status byte the device writes: the last byte of the chain's last
//! descriptor, which must be device-writable. Without such a byte the request cannot be answered
//! at all, and the device needs a reset ([`Unanswerable`]). Every other mistake is answered
//! `VIRTIO_BLK_S_IOERR` with nothing read from or written to the image: a short header, readable
//! descriptors after writable ones, a data length that is not whole sectors, a sector range
//! (or a discard segment) beyond the image or overflowing, more segments than the device offers,
//! and any write to a read-only disk. An unknown type, or a discard / write-zeroes the driver did
//! not negotiate or with flags the device does not know, is answered `VIRTIO_BLK_S_UNSUPP`.
//!
//! Data moves through the caller's bounded buffer, one chunk at a time, between the chain (via
//! virtio-queue's `Reader` and `Writer`) and the image: a guest-supplied length never sizes an
//! allocation.

use super::disk::{Disk, SECTOR};
use super::{MAX_DISCARD_SECTORS, MAX_SEGMENTS, MAX_WRITE_ZEROES_SECTORS};
use crate::devices::virtio::chain::{Chain, Unanswerable};
use crate::memory::GuestMemoryMmap;
use std::io::{Read, Write};
use virtio_bindings::virtio_blk::*;
use virtio_queue::{Reader, Writer};
use vm_memory::bitmap::BitmapSlice;

/// The header's length.
const HEADER: usize = 16;
/// One discard / write-zeroes segment's length.
const SEGMENT: usize = 16;

/// What a request is served with.
pub(super) struct Context<'a> {
    /// The image.
    pub disk: &'a Disk,
    /// The serial `GET_ID` returns.
    pub id: &'a [u8; VIRTIO_BLK_ID_BYTES as usize],
    /// The features the driver accepted.
    pub features: u64,
    /// The bounce buffer: its length is the most bytes one read or write system call moves.
    pub buf: &'a mut [u8],
}

fn accepted(features: u64, bit: u32) -> bool {
    features & (1 << bit) != 0
}

/// The byte offset of `len` bytes of data at `sector`, if that is whole sectors inside the disk.
fn data_range(disk: &Disk, sector: u64, len: u64) -> Option<u64> {
    len.is_multiple_of(SECTOR)
        .then(|| range(disk, sector, len / SECTOR))
        .flatten()
}

/// Whether `[sector, sector + n)` lies inside the disk; its byte offset if so.
fn range(disk: &Disk, sector: u64, n: u64) -> Option<u64> {
    let end = sector.checked_add(n)?;
    // `then`, not `then_some`: the product is only in range once the check passed.
    (end <= disk.sectors()).then(|| sector * SECTOR)
}

/// Serves `chain`; returns the bytes written into it (data and status).
pub(super) fn handle(
    cx: &mut Context,
    chain: Chain,
    mem: &GuestMemoryMmap,
) -> Result<u32, Unanswerable> {
    // The chain's shape: its last descriptor holds the status; readable ones come first.
    let (mut last, mut seen_writable, mut ordered) = (None, false, true);
    for d in chain.clone() {
        ordered &= !seen_writable || d.is_write_only();
        seen_writable |= d.is_write_only();
        last = Some(d);
    }
    match last {
        Some(d) if d.is_write_only() && d.len() >= 1 => {}
        _ => {
            return Err(Unanswerable(
                "has no device-writable status byte at its end",
            ))
        }
    }
    let bad = Unanswerable("has buffers outside guest memory");
    let mut r = chain.clone().reader(mem).map_err(|_| bad)?;
    let mut w = chain.writer(mem).map_err(|_| bad)?;
    let data_len = w.available_bytes().saturating_sub(1);
    let mut status = w.split_at(data_len).map_err(|_| bad)?;
    let code = if ordered {
        execute(cx, &mut r, &mut w)
    } else {
        VIRTIO_BLK_S_IOERR
    };
    status
        .write_all(&[code as u8])
        .map_err(|_| Unanswerable("has a status byte that cannot be written"))?;
    Ok(u32::try_from(w.bytes_written() + 1).unwrap_or(u32::MAX))
}

fn execute<B: BitmapSlice>(cx: &mut Context, r: &mut Reader<B>, w: &mut Writer<B>) -> u32 {
    let mut h = [0u8; HEADER];
    if r.read_exact(&mut h).is_err() {
        return VIRTIO_BLK_S_IOERR;
    }
    let kind = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    let sector = u64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
    let writes = matches!(
        kind,
        VIRTIO_BLK_T_OUT | VIRTIO_BLK_T_DISCARD | VIRTIO_BLK_T_WRITE_ZEROES
    );
    match kind {
        _ if writes && cx.disk.read_only() => return VIRTIO_BLK_S_IOERR,
        VIRTIO_BLK_T_DISCARD if !accepted(cx.features, VIRTIO_BLK_F_DISCARD) => {
            return VIRTIO_BLK_S_UNSUPP
        }
        VIRTIO_BLK_T_WRITE_ZEROES if !accepted(cx.features, VIRTIO_BLK_F_WRITE_ZEROES) => {
            return VIRTIO_BLK_S_UNSUPP
        }
        _ => {}
    }
    let ok = match kind {
        VIRTIO_BLK_T_IN => read(cx, sector, w),
        VIRTIO_BLK_T_OUT => write(cx, sector, r),
        VIRTIO_BLK_T_FLUSH => cx.disk.flush().is_ok(),
        VIRTIO_BLK_T_GET_ID => {
            let n = w.available_bytes().min(cx.id.len());
            w.write_all(&cx.id[..n]).is_ok()
        }
        VIRTIO_BLK_T_DISCARD | VIRTIO_BLK_T_WRITE_ZEROES => return zero(cx, kind, r),
        _ => return VIRTIO_BLK_S_UNSUPP,
    };
    if ok {
        VIRTIO_BLK_S_OK
    } else {
        VIRTIO_BLK_S_IOERR
    }
}

/// `IN`: the image from `sector` into the chain's writable data.
fn read<B: BitmapSlice>(cx: &mut Context, sector: u64, w: &mut Writer<B>) -> bool {
    let len = w.available_bytes() as u64;
    let Some(mut offset) = data_range(cx.disk, sector, len) else {
        return false;
    };
    let end = offset + len;
    while offset < end {
        let n = (end - offset).min(cx.buf.len() as u64) as usize;
        let chunk = &mut cx.buf[..n];
        if cx.disk.read_at(chunk, offset).is_err() || w.write_all(chunk).is_err() {
            return false;
        }
        offset += n as u64;
    }
    true
}

/// `OUT`: the chain's readable data after the header onto the image at `sector`; written
/// through (`fdatasync`) when the driver did not negotiate `VIRTIO_BLK_F_FLUSH`.
fn write<B: BitmapSlice>(cx: &mut Context, sector: u64, r: &mut Reader<B>) -> bool {
    let len = r.available_bytes() as u64;
    let Some(mut offset) = data_range(cx.disk, sector, len) else {
        return false;
    };
    let end = offset + len;
    while offset < end {
        let n = (end - offset).min(cx.buf.len() as u64) as usize;
        let chunk = &mut cx.buf[..n];
        if r.read_exact(chunk).is_err() || cx.disk.write_at(chunk, offset).is_err() {
            return false;
        }
        offset += n as u64;
    }
    accepted(cx.features, VIRTIO_BLK_F_FLUSH) || cx.disk.flush().is_ok()
}

/// `DISCARD` and `WRITE_ZEROES`: the readable data is [`MAX_SEGMENTS`] segment (`sector` u64,
/// `num_sectors` u32, `flags` u32; the header's own sector is unused).
fn zero<B: BitmapSlice>(cx: &mut Context, kind: u32, r: &mut Reader<B>) -> u32 {
    let len = r.available_bytes();
    if len == 0 || !len.is_multiple_of(SEGMENT) || len / SEGMENT > MAX_SEGMENTS as usize {
        return VIRTIO_BLK_S_IOERR;
    }
    let mut segs = [[0u8; SEGMENT]; MAX_SEGMENTS as usize];
    let segs = &mut segs[..len / SEGMENT];
    for s in segs.iter_mut() {
        if r.read_exact(s).is_err() {
            return VIRTIO_BLK_S_IOERR;
        }
    }
    let discard = kind == VIRTIO_BLK_T_DISCARD;
    let (max, known_flags) = if discard {
        (MAX_DISCARD_SECTORS, 0)
    } else {
        (MAX_WRITE_ZEROES_SECTORS, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
    };
    // Every segment is checked before any is carried out.
    let mut checked = [(0u64, 0u64, false); MAX_SEGMENTS as usize];
    for (s, c) in segs.iter().zip(checked.iter_mut()) {
        let sector = u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]);
        let n = u32::from_le_bytes([s[8], s[9], s[10], s[11]]);
        let flags = u32::from_le_bytes([s[12], s[13], s[14], s[15]]);
        if flags & !known_flags != 0 {
            return VIRTIO_BLK_S_UNSUPP;
        }
        let Some(offset) = range(cx.disk, sector, u64::from(n)).filter(|_| n <= max) else {
            return VIRTIO_BLK_S_IOERR;
        };
        *c = (
            offset,
            u64::from(n) * SECTOR,
            flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP != 0,
        );
    }
    for &(offset, len, unmap) in &checked[..segs.len()] {
        let r = if discard {
            cx.disk.discard(offset, len)
        } else {
            cx.disk.write_zeroes(offset, len, unmap)
        };
        if r.is_err() {
            return VIRTIO_BLK_S_IOERR;
        }
    }
    VIRTIO_BLK_S_OK
}
