//! Decoding of received sync messages: `ip_vs_process_message()`,
//! `ip_vs_process_message_v0()` and `ip_vs_proc_sync_conn()` (net/netfilter/ipvs/ip_vs_sync.c),
//! without reading outside the buffer and without allocating.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::iter::FusedIterator;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{
    IP_VS_CONN_F_BACKUP_MASK, IP_VS_CONN_F_HASHED, IP_VS_CONN_F_SEQ_MASK, IP_VS_CONN_F_TEMPLATE,
    IP_VS_PENAME_MAXLEN, IPVS_OPT_F_PARAM, IPVS_OPT_PE_DATA, IPVS_OPT_PE_NAME, IPVS_OPT_SEQ_DATA,
    STYPE_F_INET6, SVER_MASK, SVER_SHIFT, SYNC_CONN_OPTIONS_LEN, SYNC_CONN_V0_FULL_LEN,
    SYNC_CONN_V0_LEN, SYNC_MESG_HEADER_LEN, SYNC_MESG_V0_HEADER_LEN, SYNC_PROTO_VER, SYNC_V4_LEN,
    SYNC_V6_LEN, SeqInfo, SeqOptions, SyncConn, SyncError, SyncVersion, protocol_num_states,
};

/// A small forward reader over a byte slice: every read is checked and returns `None` past the
/// end, so no input can make it panic.
struct Rd<'a>(&'a [u8]);

impl<'a> Rd<'a> {
    fn arr<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, tail) = self.0.split_first_chunk::<N>()?;
        self.0 = tail;
        Some(*head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.arr::<1>().map(|[b]| b)
    }
    fn be16(&mut self) -> Option<u16> {
        self.arr().map(u16::from_be_bytes)
    }
    fn be32(&mut self) -> Option<u32> {
        self.arr().map(u32::from_be_bytes)
    }
    fn le32(&mut self) -> Option<u32> {
        self.arr().map(u32::from_le_bytes)
    }
    fn ipv4(&mut self) -> Option<IpAddr> {
        self.arr::<4>().map(|a| IpAddr::V4(Ipv4Addr::from(a)))
    }
    fn ipv6(&mut self) -> Option<IpAddr> {
        self.arr::<16>().map(|a| IpAddr::V6(Ipv6Addr::from(a)))
    }
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.0.split_at_checked(n)?;
        self.0 = tail;
        Some(head)
    }
}

/// A received sync datagram whose header passed the kernel's checks. Build it with
/// [`SyncMessage::parse`] (or [`SyncMessage::parse_as_backup`] to apply the syncid filter),
/// then iterate its connections with [`SyncMessage::conns`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncMessage<'a> {
    buf: &'a [u8],
    version: SyncVersion,
    syncid: u8,
    nr_conns: u8,
}

impl<'a> SyncMessage<'a> {
    /// Checks the header of one received UDP payload as `ip_vs_process_message()` does and
    /// detects its version.
    ///
    /// Errors: [`SyncError::HeaderTooShort`] below 4 bytes; [`SyncError::SizeMismatch`] when
    /// the header's be16 size is not the datagram length. The message is version 1 when byte 0
    /// (reserved) is 0, byte 5 (version) is 1 and bytes 6..8 (spare) are 0, otherwise version 0
    /// (whose byte 0 is the connection count). A datagram of 4..=7 bytes is version 0 (the
    /// kernel would read the version byte past the datagram).
    pub fn parse(buf: &'a [u8]) -> Result<Self, SyncError> {
        let mut rd = Rd(buf);
        let (Some(first), Some(syncid), Some(size)) = (rd.u8(), rd.u8(), rd.be16()) else {
            return Err(SyncError::HeaderTooShort { len: buf.len() });
        };
        if usize::from(size) != buf.len() {
            return Err(SyncError::SizeMismatch {
                header: size,
                actual: buf.len(),
            });
        }
        let v1 = match rd.arr::<4>() {
            Some([nr_conns, version, 0, 0]) if first == 0 && version == SYNC_PROTO_VER => {
                Some(nr_conns)
            }
            _ => None,
        };
        Ok(match v1 {
            Some(nr_conns) => SyncMessage {
                buf,
                version: SyncVersion::V1,
                syncid,
                nr_conns,
            },
            None => SyncMessage {
                buf,
                version: SyncVersion::V0,
                syncid,
                nr_conns: first,
            },
        })
    }

    /// [`SyncMessage::parse`], then the backup's syncid filter: a backup configured with a
    /// non-zero `backup_syncid` ignores messages of another syncid
    /// ([`SyncError::SyncIdMismatch`]); syncid 0 accepts all.
    pub fn parse_as_backup(buf: &'a [u8], backup_syncid: u8) -> Result<Self, SyncError> {
        let m = Self::parse(buf)?;
        if backup_syncid != 0 && m.syncid != backup_syncid {
            return Err(SyncError::SyncIdMismatch {
                got: m.syncid,
                want: backup_syncid,
            });
        }
        Ok(m)
    }

    /// The message's format version.
    pub fn version(&self) -> SyncVersion {
        self.version
    }

    /// The master's syncid (0..=255).
    pub fn syncid(&self) -> u8 {
        self.syncid
    }

    /// The connection count from the header (not checked against the content until iterated).
    pub fn nr_conns(&self) -> u8 {
        self.nr_conns
    }

    /// The whole message, header included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Iterates the header's count of connections in order, zero-copy. Each item is the
    /// connection or the [`SyncError`] the kernel would refuse it with; after an error whose
    /// [`SyncError::ends_message`] is true the iterator ends (the kernel drops the rest of the
    /// datagram), after other errors it goes on with the next connection. Bytes after the
    /// counted connections are ignored, as the kernel does.
    pub fn conns(&self) -> SyncConns<'a> {
        let start = match self.version {
            SyncVersion::V0 => SYNC_MESG_V0_HEADER_LEN,
            SyncVersion::V1 => SYNC_MESG_HEADER_LEN,
        };
        SyncConns {
            buf: self.buf,
            pos: start,
            index: 0,
            remaining: self.nr_conns,
            version: self.version,
        }
    }
}

/// Iterator over the connections of a [`SyncMessage`]; see [`SyncMessage::conns`].
#[derive(Clone, Debug)]
pub struct SyncConns<'a> {
    buf: &'a [u8],
    pos: usize,
    index: u8,
    remaining: u8,
    version: SyncVersion,
}

impl<'a> Iterator for SyncConns<'a> {
    type Item = Result<SyncConn<'a>, SyncError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.remaining = self.remaining.checked_sub(1)?;
        let index = self.index;
        self.index = self.index.wrapping_add(1);
        let item = match self.version {
            SyncVersion::V0 => self.next_v0(index),
            SyncVersion::V1 => self.next_v1(index),
        };
        if let Err(e) = &item
            && e.ends_message()
        {
            self.remaining = 0;
        }
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.remaining)))
    }
}

impl FusedIterator for SyncConns<'_> {}

impl<'a> SyncConns<'a> {
    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// One `struct ip_vs_sync_conn_v0` (+ options), as `ip_vs_process_message_v0()` reads it.
    fn next_v0(&mut self, index: u8) -> Result<SyncConn<'a>, SyncError> {
        let mut rd = Rd(self.rest());
        // struct ip_vs_sync_conn_v0 { u8 reserved; u8 protocol; be16 cport, vport, dport;
        // be32 caddr, vaddr, daddr; be16 flags; be16 state; }
        let fixed = (|| {
            let _reserved = rd.u8()?;
            Some((
                rd.u8()?,
                rd.be16()?,
                rd.be16()?,
                rd.be16()?,
                rd.ipv4()?,
                rd.ipv4()?,
                rd.ipv4()?,
                rd.be16()?,
                rd.be16()?,
            ))
        })();
        let Some((protocol, cport, vport, dport, caddr, vaddr, daddr, wire_flags, state)) = fixed
        else {
            return Err(SyncError::V0ConnTruncated { index });
        };
        let flags = u32::from(wire_flags) & !IP_VS_CONN_F_HASHED;
        let seq = if flags & IP_VS_CONN_F_SEQ_MASK != 0 {
            // struct ip_vs_sync_conn_options in the sender's host order (memcpy of cp->in_seq).
            let opts = seq_options(&mut rd, Rd::le32);
            let Some(opts) = opts else {
                return Err(SyncError::V0OptionsTruncated { index });
            };
            self.pos = self.pos.saturating_add(SYNC_CONN_V0_FULL_LEN);
            Some(opts)
        } else {
            self.pos = self.pos.saturating_add(SYNC_CONN_V0_LEN);
            None
        };
        check_protocol_state(index, protocol, state, flags)?;
        Ok(SyncConn {
            protocol,
            caddr,
            cport,
            vaddr,
            vport,
            daddr,
            dport,
            flags,
            state,
            fwmark: 0,
            timeout: 0,
            seq,
            pe_data: None,
            pe_name: None,
        })
    }

    /// One version 1 connection, as the loop of `ip_vs_process_message()` frames it.
    fn next_v1(&mut self, index: u8) -> Result<SyncConn<'a>, SyncError> {
        let rest = self.rest();
        if rest.len() < SYNC_V4_LEN {
            return Err(SyncError::V1ConnTruncated { index });
        }
        let mut rd = Rd(rest);
        let ver_size = rd
            .arr::<4>()
            .map_or(0, |[_, _, hi, lo]| u16::from_be_bytes([hi, lo]));
        let size = ver_size & SVER_MASK;
        let Some(record) = rest.get(..usize::from(size)) else {
            return Err(SyncError::V1ConnBeyondMessage { index, size });
        };
        let version = ver_size >> SVER_SHIFT;
        if version != 0 {
            return Err(SyncError::UnknownConnVersion {
                index,
                version: version.to_be_bytes()[1],
            });
        }
        // The next connection starts 32-bit aligned after this one ((size + 3) & ~3); it may
        // lie past the end, which the next call reports as truncation.
        let aligned = usize::from(size).saturating_add(3) & !3;
        self.pos = self.pos.saturating_add(aligned);
        decode_v1_conn(index, record)
    }
}

/// `struct ip_vs_sync_conn_options`: in_seq then out_seq, each {init_seq, delta,
/// previous_delta}, read with `u32` (big-endian in version 1, host order in version 0).
fn seq_options<'a>(rd: &mut Rd<'a>, u32: fn(&mut Rd<'a>) -> Option<u32>) -> Option<SeqOptions> {
    let mut seq = || {
        Some(SeqInfo {
            init_seq: u32(rd)?,
            delta: u32(rd)?,
            previous_delta: u32(rd)?,
        })
    };
    Some(SeqOptions {
        in_seq: seq()?,
        out_seq: seq()?,
    })
}

/// Refusals common to both versions: a non-template connection needs a protocol IPVS handles
/// and a state below its number of states. Templates are accepted whatever their state (the
/// kernel only logs a state >= `IP_VS_CTPL_S_LAST`).
fn check_protocol_state(index: u8, protocol: u8, state: u16, flags: u32) -> Result<(), SyncError> {
    if flags & IP_VS_CONN_F_TEMPLATE != 0 {
        // A template state >= IP_VS_CTPL_S_LAST is only logged by the kernel, not refused.
        return Ok(());
    }
    let Some(num_states) = protocol_num_states(protocol) else {
        return Err(SyncError::UnknownProtocol { index, protocol });
    };
    if state >= num_states {
        return Err(SyncError::InvalidState {
            index,
            protocol,
            state,
        });
    }
    Ok(())
}

/// `ip_vs_proc_sync_conn()`: one version 1 connection of exactly `record.len()` bytes (the size
/// from `ver_size`).
fn decode_v1_conn(index: u8, record: &[u8]) -> Result<SyncConn<'_>, SyncError> {
    let size = u16::try_from(record.len()).unwrap_or(u16::MAX);
    let mut rd = Rd(record);
    // struct ip_vs_sync_v4 / ip_vs_sync_v6: u8 type; u8 protocol; be16 ver_size; be32 flags;
    // be16 state; be16 cport, vport, dport; be32 fwmark; be32 timeout; then 3 addresses.
    let conn_type = rd.u8().unwrap_or(0);
    let (is_v6, needed) = if conn_type & STYPE_F_INET6 != 0 {
        (true, SYNC_V6_LEN)
    } else if conn_type == 0 {
        (false, SYNC_V4_LEN)
    } else {
        return Err(SyncError::BadConnType { index, conn_type });
    };
    if record.len() < needed {
        return Err(SyncError::ConnSizeTooSmall {
            index,
            size,
            needed: u16::try_from(needed).unwrap_or(u16::MAX),
        });
    }
    let fixed = (|| {
        let protocol = rd.u8()?;
        let _ver_size = rd.be16()?;
        let flags = rd.be32()?;
        let state = rd.be16()?;
        let ports = (rd.be16()?, rd.be16()?, rd.be16()?);
        let fwmark = rd.be32()?;
        let timeout = rd.be32()?;
        let addrs = if is_v6 {
            (rd.ipv6()?, rd.ipv6()?, rd.ipv6()?)
        } else {
            (rd.ipv4()?, rd.ipv4()?, rd.ipv4()?)
        };
        Some((protocol, flags, state, ports, fwmark, timeout, addrs))
    })();
    // Cannot fail: the record holds the whole fixed part (checked above).
    let Some((protocol, wire_flags, state, (cport, vport, dport), fwmark, timeout, addrs)) = fixed
    else {
        return Err(SyncError::ConnSizeTooSmall {
            index,
            size,
            needed: u16::try_from(needed).unwrap_or(u16::MAX),
        });
    };
    let (caddr, vaddr, daddr) = addrs;

    // Options: {u8 type, u8 len, len bytes} up to the end of the record.
    let mut seq = None;
    let mut pe_data = None;
    let mut pe_name = None;
    while !rd.0.is_empty() {
        let Some([option, len]) = rd.arr::<2>() else {
            return Err(SyncError::OptionHeaderTruncated { index });
        };
        let data = match rd.bytes(usize::from(len)) {
            Some(d) if len != 0 => d,
            _ => return Err(SyncError::OptionLength { index, option, len }),
        };
        match option & !IPVS_OPT_F_PARAM {
            IPVS_OPT_SEQ_DATA => {
                if usize::from(len) != SYNC_CONN_OPTIONS_LEN {
                    return Err(SyncError::SeqOptionLength { index, len });
                }
                if seq.is_some() {
                    return Err(SyncError::DuplicateOption {
                        index,
                        option: IPVS_OPT_SEQ_DATA,
                    });
                }
                seq = seq_options(&mut Rd(data), Rd::be32);
            }
            IPVS_OPT_PE_DATA => {
                // len <= 255 = IP_VS_PEDATA_MAXLEN always holds for a u8.
                if pe_data.is_some() {
                    return Err(SyncError::DuplicateOption {
                        index,
                        option: IPVS_OPT_PE_DATA,
                    });
                }
                pe_data = Some(data);
            }
            IPVS_OPT_PE_NAME => {
                if usize::from(len) > IP_VS_PENAME_MAXLEN {
                    return Err(SyncError::PeNameTooLong { index, len });
                }
                if pe_name.is_some() {
                    return Err(SyncError::DuplicateOption {
                        index,
                        option: IPVS_OPT_PE_NAME,
                    });
                }
                pe_name = Some(data);
            }
            _ if option & IPVS_OPT_F_PARAM == 0 => {
                return Err(SyncError::UnknownMandatoryOption { index, option });
            }
            _ => {} // optional parameter: skipped
        }
    }

    let flags = wire_flags & !IP_VS_CONN_F_HASHED;
    check_protocol_state(index, protocol, state, flags & IP_VS_CONN_F_BACKUP_MASK)?;
    if pe_data.is_some() && pe_name.is_none() {
        return Err(SyncError::PeDataWithoutName { index });
    }
    Ok(SyncConn {
        protocol,
        caddr,
        cport,
        vaddr,
        vport,
        daddr,
        dport,
        flags,
        state,
        fwmark,
        timeout,
        seq,
        pe_data,
        pe_name,
    })
}
