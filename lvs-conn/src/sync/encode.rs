//! Encoding of sync messages into a caller buffer, byte for byte as `ip_vs_sync_conn()` and
//! `ip_vs_sync_conn_v0()` (net/netfilter/ipvs/ip_vs_sync.c) fill their sync buffers.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::net::IpAddr;

use super::{
    IP_VS_CONN_F_HASHED, IP_VS_CONN_F_SEQ_MASK, IP_VS_PEDATA_MAXLEN, IP_VS_PENAME_MAXLEN,
    IPVS_OPT_PE_DATA, IPVS_OPT_PE_NAME, IPVS_OPT_SEQ_DATA, STYPE_F_INET6, SVER_MASK,
    SYNC_CONN_OPTIONS_LEN, SYNC_CONN_V0_FULL_LEN, SYNC_CONN_V0_LEN, SYNC_MESG_HEADER_LEN,
    SYNC_MESG_MAX_LEN, SYNC_MESG_V0_HEADER_LEN, SYNC_PROTO_VER, SYNC_V4_LEN, SYNC_V6_LEN, SeqInfo,
    SeqOptions, SyncConn, SyncError, SyncVersion,
};

/// A forward writer over a mutable byte slice whose length the caller checked beforehand; a
/// write past the end is dropped (never a panic), which the length checks rule out.
struct Wr<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Wr<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }
    fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }
    fn be16(&mut self, v: u16) {
        self.put(&v.to_be_bytes());
    }
    fn be32(&mut self, v: u32) {
        self.put(&v.to_be_bytes());
    }
    /// be16 cport, vport, dport (the order of both versions).
    fn ports(&mut self, c: &SyncConn<'_>) {
        for p in [c.cport, c.vport, c.dport] {
            self.be16(p);
        }
    }
    /// caddr, vaddr, daddr (the order of both versions), 4 or 16 bytes each.
    fn addrs(&mut self, c: &SyncConn<'_>) {
        for a in [c.caddr, c.vaddr, c.daddr] {
            match a {
                IpAddr::V4(a) => self.put(&a.octets()),
                IpAddr::V6(a) => self.put(&a.octets()),
            }
        }
    }
    fn seq(&mut self, s: &SeqInfo, to_bytes: fn(u32) -> [u8; 4]) {
        self.put(&to_bytes(s.init_seq));
        self.put(&to_bytes(s.delta));
        self.put(&to_bytes(s.previous_delta));
    }
}

/// Builds one sync message in a caller-provided buffer (one UDP payload), appending
/// connections until the buffer is full. The header is kept current after every push, so
/// [`SyncMessageWriter::as_bytes`] is always a complete message ready to send. No allocation.
///
/// Layout (ip_vs_sync.c): version 1 writes the 8-byte `struct ip_vs_sync_mesg` header, then
/// each connection as `struct ip_vs_sync_v4` (36 bytes) or `ip_vs_sync_v6` (72 bytes) followed
/// by its options (sequence data 2+24 bytes, PE data 2+n, PE name 2+n), with zero padding
/// before a connection so that each starts 32-bit aligned (the last one is not padded).
/// Version 0 writes the 4-byte `struct ip_vs_sync_mesg_v0` header and 24-byte
/// `struct ip_vs_sync_conn_v0` entries, each followed by 24 bytes of sequence data when its
/// flags have [`super::IP_VS_CONN_F_SEQ_MASK`] bits.
///
/// A master sizes the buffer `sync_maxlen`: [`super::SYNC_MAXLEN_IPV4`] (1472) by default;
/// a longer buffer is used up to 65535 bytes (the size field is 16 bits).
#[derive(Debug)]
pub struct SyncMessageWriter<'b> {
    buf: &'b mut [u8],
    cap: usize,
    len: usize,
    count: u8,
    syncid: u8,
    version: SyncVersion,
}

impl<'b> SyncMessageWriter<'b> {
    /// Starts a message of `version` for `syncid` in `buf` (header written, no connection).
    ///
    /// Errors: [`SyncError::BufferTooSmall`] if `buf` cannot hold the header (4 bytes for
    /// version 0, 8 for version 1).
    pub fn new(version: SyncVersion, buf: &'b mut [u8], syncid: u8) -> Result<Self, SyncError> {
        let min = header_len(version);
        if buf.len() < min {
            return Err(SyncError::BufferTooSmall {
                len: buf.len(),
                min,
            });
        }
        let cap = buf.len().min(SYNC_MESG_MAX_LEN);
        let mut w = SyncMessageWriter {
            buf,
            cap,
            len: min,
            count: 0,
            syncid,
            version,
        };
        w.write_header();
        Ok(w)
    }

    /// Empties the message (same buffer, version and syncid) to start the next one.
    pub fn reset(&mut self) {
        self.len = header_len(self.version);
        self.count = 0;
        self.write_header();
    }

    fn write_header(&mut self) {
        let size = u16::try_from(self.len).unwrap_or(u16::MAX).to_be_bytes();
        let mut w = Wr {
            buf: self.buf,
            pos: 0,
        };
        match self.version {
            // struct ip_vs_sync_mesg_v0 { u8 nr_conns; u8 syncid; be16 size; }
            SyncVersion::V0 => w.put(&[self.count, self.syncid, size[0], size[1]]),
            // struct ip_vs_sync_mesg { u8 reserved = 0; u8 syncid; be16 size; u8 nr_conns;
            // s8 version = 1; u16 spare = 0; }
            SyncVersion::V1 => w.put(&[
                0,
                self.syncid,
                size[0],
                size[1],
                self.count,
                SYNC_PROTO_VER,
                0,
                0,
            ]),
        }
    }

    /// Appends one connection.
    ///
    /// Errors (the message is unchanged): [`SyncError::MessageFull`] when it does not fit in
    /// what is left of the buffer (send this message, [`reset`](Self::reset), push again; if
    /// the message is empty it can never fit in a buffer this size),
    /// [`SyncError::TooManyConns`] at 255 connections, [`SyncError::MixedAddressFamilies`],
    /// [`SyncError::Ipv6InV0`], [`SyncError::PeDataLength`] (empty or over 255 bytes),
    /// [`SyncError::PeNameLength`] (empty or over 16 bytes).
    ///
    /// What is written (kernel rules): the flags without [`IP_VS_CONN_F_HASHED`] (version 0:
    /// their low 16 bits); version 1: the sequence option when [`SyncConn::seq`] is `Some`, PE
    /// data and PE name when `Some`; version 0: `fwmark`, `timeout` and the PE fields are not
    /// carried, and the 24 bytes of sequence data follow exactly when the flags have
    /// [`IP_VS_CONN_F_SEQ_MASK`] bits (zeros if [`SyncConn::seq`] is `None`). The encoder does
    /// not check protocol or state: the receiver does.
    pub fn push(&mut self, conn: &SyncConn<'_>) -> Result<(), SyncError> {
        if self.count == u8::MAX {
            return Err(SyncError::TooManyConns);
        }
        let is_v6 = match (conn.caddr, conn.vaddr, conn.daddr) {
            (IpAddr::V4(_), IpAddr::V4(_), IpAddr::V4(_)) => false,
            (IpAddr::V6(_), IpAddr::V6(_), IpAddr::V6(_)) => true,
            _ => return Err(SyncError::MixedAddressFamilies),
        };
        match self.version {
            SyncVersion::V0 => self.push_v0(conn, is_v6)?,
            SyncVersion::V1 => self.push_v1(conn, is_v6)?,
        }
        self.count = self.count.saturating_add(1);
        self.write_header();
        Ok(())
    }

    /// Appends connections from `conns` in order until one does not fit or is refused, and
    /// returns how many were appended (the first `n` of the slice).
    pub fn push_many(&mut self, conns: &[SyncConn<'_>]) -> usize {
        conns.iter().take_while(|c| self.push(c).is_ok()).count()
    }

    fn reserve(&self, needed: usize) -> Result<usize, SyncError> {
        let remaining = self.cap.saturating_sub(self.len);
        if needed > remaining {
            return Err(SyncError::MessageFull { needed, remaining });
        }
        Ok(self.len.saturating_add(needed))
    }

    /// `ip_vs_sync_conn_v0()`: `struct ip_vs_sync_conn_v0` plus optional sequence data.
    fn push_v0(&mut self, c: &SyncConn<'_>, is_v6: bool) -> Result<(), SyncError> {
        if is_v6 {
            return Err(SyncError::Ipv6InV0);
        }
        let flags = c.flags & !IP_VS_CONN_F_HASHED;
        let with_seq = flags & IP_VS_CONN_F_SEQ_MASK != 0;
        let needed = if with_seq {
            SYNC_CONN_V0_FULL_LEN
        } else {
            SYNC_CONN_V0_LEN
        };
        let end = self.reserve(needed)?;
        let mut rec = [0u8; SYNC_CONN_V0_FULL_LEN];
        let mut w = Wr {
            buf: &mut rec,
            pos: 0,
        };
        w.u8(0); // reserved
        w.u8(c.protocol);
        w.ports(c);
        w.addrs(c);
        // be16 flags: the low 16 bits (htons of the u32 flags).
        w.be16((flags & 0xffff) as u16);
        w.be16(c.state);
        if with_seq {
            // memcpy of cp->in_seq / out_seq: host order, little-endian here.
            let s = c.seq.unwrap_or_default();
            w.seq(&s.in_seq, u32::to_le_bytes);
            w.seq(&s.out_seq, u32::to_le_bytes);
        }
        let mut out = Wr {
            buf: self.buf,
            pos: self.len,
        };
        out.put(rec.get(..needed).unwrap_or_default());
        self.len = end;
        Ok(())
    }

    /// `ip_vs_sync_conn()`: padding, `struct ip_vs_sync_v4`/`_v6`, then options.
    fn push_v1(&mut self, c: &SyncConn<'_>, is_v6: bool) -> Result<(), SyncError> {
        let mut len = if is_v6 { SYNC_V6_LEN } else { SYNC_V4_LEN };
        if c.seq.is_some() {
            len = len.saturating_add(2 + SYNC_CONN_OPTIONS_LEN);
        }
        if let Some(d) = c.pe_data {
            if d.is_empty() || d.len() > IP_VS_PEDATA_MAXLEN {
                return Err(SyncError::PeDataLength { len: d.len() });
            }
            len = len.saturating_add(2).saturating_add(d.len());
        }
        if let Some(n) = c.pe_name {
            if n.is_empty() || n.len() > IP_VS_PENAME_MAXLEN {
                return Err(SyncError::PeNameLength { len: n.len() });
            }
            len = len.saturating_add(2).saturating_add(n.len());
        }
        // pad = (4 - head) & 3: the previous connection is padded to 32 bits.
        let pad = self.len.wrapping_neg() & 3;
        let end = self.reserve(pad.saturating_add(len))?;
        // The fixed part is assembled on the stack (constant offsets, no per-field checks),
        // then copied once; options follow in place.
        let mut fixed = [0u8; 3 + SYNC_V6_LEN];
        let mut f = Wr {
            buf: &mut fixed,
            pos: 0,
        };
        f.pos = pad;
        f.u8(if is_v6 { STYPE_F_INET6 } else { 0 });
        f.u8(c.protocol);
        // ver_size: version 0 in the top 4 bits, size (<= 72 + 26 + 257 + 18) in the rest.
        f.be16(u16::try_from(len).unwrap_or(0) & SVER_MASK);
        f.be32(c.flags & !IP_VS_CONN_F_HASHED);
        f.be16(c.state);
        f.ports(c);
        f.be32(c.fwmark);
        f.be32(c.timeout);
        f.addrs(c);
        let fixed_len = f.pos;
        let mut w = Wr {
            buf: self.buf,
            pos: self.len,
        };
        w.put(fixed.get(..fixed_len).unwrap_or_default());
        if let Some(s) = &c.seq {
            write_seq_option(&mut w, s);
        }
        for (kind, data) in [(IPVS_OPT_PE_DATA, c.pe_data), (IPVS_OPT_PE_NAME, c.pe_name)] {
            if let Some(d) = data {
                w.u8(kind);
                w.u8(u8::try_from(d.len()).unwrap_or(0));
                w.put(d);
            }
        }
        self.len = end;
        Ok(())
    }

    /// The message so far (header plus every connection pushed), ready to send.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// Ends the writer and returns the message, borrowed from the caller's buffer.
    pub fn finish(self) -> &'b [u8] {
        let len = self.len;
        let buf: &'b [u8] = self.buf;
        buf.get(..len).unwrap_or_default()
    }

    /// Length of the message so far in bytes (the header's size field).
    pub fn message_len(&self) -> usize {
        self.len
    }

    /// Number of connections in the message so far (the header's count).
    pub fn conn_count(&self) -> u8 {
        self.count
    }

    /// Bytes left for further connections (before alignment padding).
    pub fn remaining(&self) -> usize {
        self.cap.saturating_sub(self.len)
    }

    /// The message's version.
    pub fn version(&self) -> SyncVersion {
        self.version
    }
}

/// Header length of a message of `version`, bytes.
fn header_len(version: SyncVersion) -> usize {
    match version {
        SyncVersion::V0 => SYNC_MESG_V0_HEADER_LEN,
        SyncVersion::V1 => SYNC_MESG_HEADER_LEN,
    }
}

/// Option `IPVS_OPT_SEQ_DATA`, 24 bytes, big-endian (`hton_seq()`).
fn write_seq_option(w: &mut Wr<'_>, s: &SeqOptions) {
    w.u8(IPVS_OPT_SEQ_DATA);
    w.u8(SYNC_CONN_OPTIONS_LEN as u8);
    w.seq(&s.in_seq, u32::to_be_bytes);
    w.seq(&s.out_seq, u32::to_be_bytes);
}
