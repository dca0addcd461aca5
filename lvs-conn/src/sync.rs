//! Connection synchronisation: the kernel's IPVS sync messages (versions 0 and 1) and the rule
//! for which connections a master sends when. Source: net/netfilter/ipvs/ip_vs_sync.c,
//! include/uapi/linux/ip_vs.h, include/net/ip_vs.h.
//!
//! A master director multicasts its connections to backups (UDP to 224.0.0.81:8848, TTL 1 by
//! default, see [`IP_VS_SYNC_GROUP`]) so that a backup taking over the VIP already knows which
//! real server each flow goes to. This module is the sans-IO part of that: it holds no table and
//! does no I/O; the caller owns the socket, the connection table and the clock.
//!
//! - [`SyncConn`]: one connection as carried on the wire (host-order fields).
//! - [`SyncMessageWriter`]: appends connections to a caller buffer (one UDP payload, e.g.
//!   [`SYNC_MAXLEN_IPV4`] bytes) until it is full, exactly as `ip_vs_sync_conn()` /
//!   `ip_vs_sync_conn_v0()` lay them out. No allocation.
//! - [`SyncMessage`]: checks a received datagram's header as `ip_vs_process_message()` does and
//!   iterates its connections zero-copy ([`SyncConns`]), with the validation of
//!   `ip_vs_process_message_v0()` and `ip_vs_proc_sync_conn()`: every refusal is a typed
//!   [`SyncError`]; [`SyncError::ends_message`] tells whether the kernel drops the rest of the
//!   datagram or only that connection.
//! - [`should_sync`], [`chain_step`], [`packet_pkts`], [`control_pkts`]: the master's decision
//!   (`ip_vs_sync_conn_needed()` and its callers), as pure functions over the caller's entry.
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use lvs_conn::sync::*;
//!
//! let conn = SyncConn {
//!     protocol: 6,
//!     caddr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
//!     cport: 50000,
//!     vaddr: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 100)),
//!     vport: 80,
//!     daddr: IpAddr::V4(Ipv4Addr::new(10, 1, 1, 11)),
//!     dport: 80,
//!     flags: IP_VS_CONN_F_DROUTE,
//!     state: 1, // IP_VS_TCP_S_ESTABLISHED
//!     fwmark: 0,
//!     timeout: 900,
//!     seq: None,
//!     pe_data: None,
//!     pe_name: None,
//! };
//! // Master: fill one datagram (syncid 1).
//! let mut buf = [0u8; SYNC_MAXLEN_IPV4];
//! let mut w = SyncMessageWriter::new(SyncVersion::V1, &mut buf, 1)?;
//! w.push(&conn)?;
//! let datagram = w.finish();
//! // Backup (syncid 0 accepts any): check the header, then each connection.
//! let msg = SyncMessage::parse_as_backup(datagram, 0)?;
//! for item in msg.conns() {
//!     match item {
//!         Ok(c) => assert_eq!(c.import_flags(msg.version()), IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_SYNC),
//!         Err(e) if e.ends_message() => break,
//!         Err(_skipped) => continue,
//!     }
//! }
//! # Ok::<(), SyncError>(())
//! ```
//!
//! # What an importing backup must do with each decoded connection (`ip_vs_proc_conn()`)
//!
//! - Use [`SyncConn::import_flags`] as the entry's flags (they carry `IP_VS_CONN_F_SYNC`).
//! - Look the entry up by protocol + CIP:cport + VIP:vport (templates: the template lookup).
//!   For a non-template whose DIP:dport differs: if the message's flags lack
//!   `IP_VS_CONN_F_INACTIVE`, expire the old entry now and create a new one; otherwise ignore
//!   the message (it is the expiry notice of an entry already replaced).
//! - Existing entry: move it between activeconns and inactconns of its real server when the
//!   `IP_VS_CONN_F_INACTIVE` bit changes (not for templates), then take only the bits in
//!   [`IP_VS_CONN_F_BACKUP_UPD_MASK`] from the message and keep the rest; bind a real server if
//!   it had none. New entry: bind the real server found by (protocol, DIP:dport, VIP:vport,
//!   fwmark); it stays unbound if none matches.
//! - Copy the sequence data if present; set the packet counter to `sync_threshold`, the state,
//!   and `old_state = state`.
//! - Timeout: if [`SyncConn::timeout`] is not 0, that many seconds; if 0 (always in version 0),
//!   the protocol's timeout for the state, or [`BACKUP_TEMPLATE_TIMEOUT_SECS`] for templates.
//! - A connection with PE data names its persistence engine ([`SyncConn::pe_name`]); the kernel
//!   skips it when no such engine is loaded.

mod decode;
mod encode;
mod policy;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr};

pub use decode::{SyncConns, SyncMessage};
pub use encode::SyncMessageWriter;
pub use policy::{
    ChainStep, SyncCandidate, SyncConfig, SyncDecision, chain_step, control_pkts, packet_pkts,
    should_sync,
};

/// The default multicast group of the sync daemon, 224.0.0.81 (`IP_VS_SYNC_GROUP`,
/// ip_vs_sync.c).
pub const IP_VS_SYNC_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 81);
/// The default UDP port of the sync daemon, 8848 (`IP_VS_SYNC_PORT`, ip_vs_sync.c). Sync thread
/// number `id` uses port `8848 + id` (`get_mcast_sockaddr()`).
pub const IP_VS_SYNC_PORT: u16 = 8848;
/// The default multicast TTL of sync messages, 1 (`start_sync_thread()`).
pub const IP_VS_SYNC_TTL: u8 = 1;
/// The version byte of a version 1 message header (`SYNC_PROTO_VER`, ip_vs_sync.c).
pub const SYNC_PROTO_VER: u8 = 1;
/// How long, in milliseconds, a master keeps a partly filled message before sending it
/// (`IPVS_SYNC_FLUSH_TIME` = 2 s, include/net/ip_vs.h).
pub const IPVS_SYNC_FLUSH_TIME_MS: u64 = 2000;

/// Length in bytes of a version 0 message header, `struct ip_vs_sync_mesg_v0`
/// {u8 nr_conns, u8 syncid, be16 size}.
pub const SYNC_MESG_V0_HEADER_LEN: usize = 4;
/// Length in bytes of a version 1 message header, `struct ip_vs_sync_mesg`
/// {u8 reserved = 0, u8 syncid, be16 size, u8 nr_conns, s8 version = 1, u16 spare = 0}.
pub const SYNC_MESG_HEADER_LEN: usize = 8;
/// Length in bytes of a version 0 connection without sequence data,
/// `sizeof(struct ip_vs_sync_conn_v0)` (`SIMPLE_CONN_SIZE`).
pub const SYNC_CONN_V0_LEN: usize = 24;
/// Length in bytes of a version 0 connection followed by its sequence data (`FULL_CONN_SIZE`).
pub const SYNC_CONN_V0_FULL_LEN: usize = SYNC_CONN_V0_LEN + SYNC_CONN_OPTIONS_LEN;
/// Length in bytes of `struct ip_vs_sync_conn_options` (two `struct ip_vs_seq` of three u32).
pub const SYNC_CONN_OPTIONS_LEN: usize = 24;
/// Length in bytes of the fixed part of a version 1 IPv4 connection, `sizeof(struct
/// ip_vs_sync_v4)`.
pub const SYNC_V4_LEN: usize = 36;
/// Length in bytes of the fixed part of a version 1 IPv6 connection, `sizeof(struct
/// ip_vs_sync_v6)`.
pub const SYNC_V6_LEN: usize = 72;

/// Bit 0 of a version 1 connection's type byte: the addresses are IPv6 (`STYPE_F_INET6`).
pub const STYPE_F_INET6: u8 = 1;
/// Shift of the 4-bit connection-format version in `ver_size` (`SVER_SHIFT`).
pub const SVER_SHIFT: u16 = 12;
/// Mask of the 12-bit connection size in `ver_size` (`SVER_MASK`).
pub const SVER_MASK: u16 = 0x0fff;
/// Version 1 option: sequence data, 24 bytes (`IPVS_OPT_SEQ_DATA`).
pub const IPVS_OPT_SEQ_DATA: u8 = 1;
/// Version 1 option: persistence-engine data, 1..=255 bytes (`IPVS_OPT_PE_DATA`).
pub const IPVS_OPT_PE_DATA: u8 = 2;
/// Version 1 option: persistence-engine name, 1..=16 bytes, no NUL (`IPVS_OPT_PE_NAME`).
pub const IPVS_OPT_PE_NAME: u8 = 3;
/// Option-type bit 6 (`1 << (IPVS_OPT_PARAM - 1)`, `IPVS_OPT_F_PARAM`): an unknown option with
/// this bit set is skipped; without it the connection is refused.
pub const IPVS_OPT_F_PARAM: u8 = 0x40;
/// Longest persistence-engine name in bytes (`IP_VS_PENAME_MAXLEN`).
pub const IP_VS_PENAME_MAXLEN: usize = 16;
/// Longest persistence-engine data in bytes (`IP_VS_PEDATA_MAXLEN`).
pub const IP_VS_PEDATA_MAXLEN: usize = 255;

/// Largest message a master sends by default over IPv4 multicast: MTU 1500 minus the 20-byte
/// IPv4 and 8-byte UDP headers (`sync_maxlen` in `start_sync_thread()`), in bytes.
pub const SYNC_MAXLEN_IPV4: usize = 1500 - 20 - 8;
/// Largest message a master sends by default over IPv6 multicast: MTU 1500 minus the 40-byte
/// IPv6 and 8-byte UDP headers, in bytes.
pub const SYNC_MAXLEN_IPV6: usize = 1500 - 40 - 8;
/// Largest possible message: the header's size field is 16 bits, in bytes.
pub const SYNC_MESG_MAX_LEN: usize = u16::MAX as usize;
/// Timeout in seconds a backup gives a template synced without a timeout (version 0):
/// `3*60*HZ` in `ip_vs_proc_conn()`.
pub const BACKUP_TEMPLATE_TIMEOUT_SECS: u32 = 180;

/// Mask of the forwarding method bits of the connection flags (`IP_VS_CONN_F_FWD_MASK`).
pub const IP_VS_CONN_F_FWD_MASK: u32 = 0x0007;
/// Forwarding method NAT, masquerading (`IP_VS_CONN_F_MASQ`).
pub const IP_VS_CONN_F_MASQ: u32 = 0x0000;
/// Forwarding method local node (`IP_VS_CONN_F_LOCALNODE`).
pub const IP_VS_CONN_F_LOCALNODE: u32 = 0x0001;
/// Forwarding method tunnelling, IPIP (`IP_VS_CONN_F_TUNNEL`).
pub const IP_VS_CONN_F_TUNNEL: u32 = 0x0002;
/// Forwarding method direct routing (`IP_VS_CONN_F_DROUTE`).
pub const IP_VS_CONN_F_DROUTE: u32 = 0x0003;
/// Forwarding method cache bypass (`IP_VS_CONN_F_BYPASS`).
pub const IP_VS_CONN_F_BYPASS: u32 = 0x0004;
/// The entry was created by sync (`IP_VS_CONN_F_SYNC`); a backup sets it on import.
pub const IP_VS_CONN_F_SYNC: u32 = 0x0020;
/// The entry is hashed in the table (`IP_VS_CONN_F_HASHED`); never sent (masked off by the
/// sender, ignored by the receiver).
pub const IP_VS_CONN_F_HASHED: u32 = 0x0040;
/// No output packets seen yet (`IP_VS_CONN_F_NOOUTPUT`).
pub const IP_VS_CONN_F_NOOUTPUT: u32 = 0x0080;
/// Not established: counted in inactconns (`IP_VS_CONN_F_INACTIVE`).
pub const IP_VS_CONN_F_INACTIVE: u32 = 0x0100;
/// Output sequence numbers must be adjusted (`IP_VS_CONN_F_OUT_SEQ`).
pub const IP_VS_CONN_F_OUT_SEQ: u32 = 0x0200;
/// Input sequence numbers must be adjusted (`IP_VS_CONN_F_IN_SEQ`).
pub const IP_VS_CONN_F_IN_SEQ: u32 = 0x0400;
/// Both sequence-adjust bits (`IP_VS_CONN_F_SEQ_MASK`); in version 0 they announce the 24
/// bytes of sequence data after the connection.
pub const IP_VS_CONN_F_SEQ_MASK: u32 = 0x0600;
/// The client port is not known yet (`IP_VS_CONN_F_NO_CPORT`).
pub const IP_VS_CONN_F_NO_CPORT: u32 = 0x0800;
/// A persistence template, not a connection (`IP_VS_CONN_F_TEMPLATE`).
pub const IP_VS_CONN_F_TEMPLATE: u32 = 0x1000;
/// One-packet scheduling: such entries are never synced (`IP_VS_CONN_F_ONE_PACKET`).
pub const IP_VS_CONN_F_ONE_PACKET: u32 = 0x2000;
/// Use netfilter conntrack (`IP_VS_CONN_F_NFCT`, bit 16): bits from 16 up are not sent in
/// version 0 (its flags field is 16 bits) and are masked off by a version 1 backup.
pub const IP_VS_CONN_F_NFCT: u32 = 1 << 16;
/// The flag bits a version 1 backup accepts from the wire (`IP_VS_CONN_F_BACKUP_MASK`).
pub const IP_VS_CONN_F_BACKUP_MASK: u32 = IP_VS_CONN_F_FWD_MASK
    | IP_VS_CONN_F_NOOUTPUT
    | IP_VS_CONN_F_INACTIVE
    | IP_VS_CONN_F_SEQ_MASK
    | IP_VS_CONN_F_NO_CPORT
    | IP_VS_CONN_F_TEMPLATE;
/// The flag bits a backup updates on an existing entry (`IP_VS_CONN_F_BACKUP_UPD_MASK`).
pub const IP_VS_CONN_F_BACKUP_UPD_MASK: u32 = IP_VS_CONN_F_INACTIVE | IP_VS_CONN_F_SEQ_MASK;

/// IP protocol number of TCP.
pub(crate) const IPPROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub(crate) const IPPROTO_UDP: u8 = 17;
/// IP protocol number of SCTP.
pub(crate) const IPPROTO_SCTP: u8 = 132;
/// IP protocol number of ESP.
const IPPROTO_ESP: u8 = 50;
/// IP protocol number of AH.
const IPPROTO_AH: u8 = 51;
/// Number of template states (`IP_VS_CTPL_S_LAST`: NONE, ASSURED).
pub const IP_VS_CTPL_S_LAST: u16 = 2;

/// The number of states IPVS knows for an IP protocol (`ip_vs_proto_get(protocol)->num_states`),
/// or `None` for a protocol IPVS does not handle. TCP 11 (`IP_VS_TCP_S_LAST`), UDP 1
/// (`IP_VS_UDP_S_LAST`), SCTP 14 (`IP_VS_SCTP_S_LAST`), AH and ESP 1
/// (ip_vs_proto_ah_esp.c). A backup refuses a non-template connection whose protocol gives
/// `None` or whose state is not below this number.
pub fn protocol_num_states(protocol: u8) -> Option<u16> {
    match protocol {
        IPPROTO_TCP => Some(11),
        IPPROTO_UDP => Some(1),
        IPPROTO_SCTP => Some(14),
        IPPROTO_AH | IPPROTO_ESP => Some(1),
        _ => None,
    }
}

/// The version of a sync message (sysctl `net.ipv4.vs.sync_version`, default 1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SyncVersion {
    /// The original format: IPv4 only, no fwmark, no timeout, no persistence-engine data.
    V0,
    /// The current format: IPv4 and IPv6, fwmark, timeout and options.
    #[default]
    V1,
}

/// Sequence-number adjustment of one direction, `struct ip_vs_seq` (include/net/ip_vs.h): used
/// by NAT application helpers (FTP) that resize payloads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqInfo {
    /// Add `delta` from this sequence number on.
    pub init_seq: u32,
    /// Delta in sequence numbers.
    pub delta: u32,
    /// Delta in sequence numbers before the last resized packet.
    pub previous_delta: u32,
}

/// The sequence data of a connection, `struct ip_vs_sync_conn_options` (24 bytes on the wire).
/// Version 1 carries it big-endian in option [`IPVS_OPT_SEQ_DATA`]; version 0 appends it after
/// the connection when the flags have [`IP_VS_CONN_F_SEQ_MASK`] bits, in the sending kernel's
/// host order (a `memcpy` of `cp->in_seq`): this module writes and reads it little-endian, the
/// order of x86-64 and arm64 kernels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqOptions {
    /// Incoming direction (`in_seq`).
    pub in_seq: SeqInfo,
    /// Outgoing direction (`out_seq`).
    pub out_seq: SeqInfo,
}

/// One connection (or persistence template) as carried in a sync message, fields in host
/// order. Borrowed: the persistence-engine fields point into the received message (decoding is
/// zero-copy) or into the caller's entry (encoding).
///
/// The three addresses are all IPv4 or all IPv6 (the kernel does not sync mixed-family real
/// servers); version 0 carries IPv4 only and neither `fwmark`, `timeout` nor the
/// persistence-engine fields (they decode as 0 / `None` and are not sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SyncConn<'a> {
    /// IP protocol number (6 TCP, 17 UDP, 132 SCTP, 50 ESP, 51 AH).
    pub protocol: u8,
    /// Client address, CIP.
    pub caddr: IpAddr,
    /// Client port (0 for templates of port-0 and fwmark services).
    pub cport: u16,
    /// Virtual address, VIP.
    pub vaddr: IpAddr,
    /// Virtual port.
    pub vport: u16,
    /// Destination (real server) address, RIP.
    pub daddr: IpAddr,
    /// Destination (real server) port.
    pub dport: u16,
    /// Connection flags, `IP_VS_CONN_F_*` bits (forwarding method in the low 3 bits), as the
    /// master sent them, without [`IP_VS_CONN_F_HASHED`] (the sender masks it off). Version 0
    /// carries only the low 16 bits. See [`SyncConn::import_flags`] for what a backup keeps.
    pub flags: u32,
    /// Kernel state number: for TCP the `IP_VS_TCP_S_*` index (0 NONE .. 10 SYNACK), for SCTP
    /// `IP_VS_SCTP_S_*` (0 NONE .. 13 CLOSED), 0 for UDP/AH/ESP, and for templates
    /// `IP_VS_CTPL_S_*` (0 NONE, 1 ASSURED).
    pub state: u16,
    /// Firewall mark of the virtual service (0 when none, always 0 in version 0).
    pub fwmark: u32,
    /// Remaining timeout in seconds (`cp->timeout / HZ`); 0 means "not carried" (version 0).
    pub timeout: u32,
    /// Sequence-adjust data, if carried.
    pub seq: Option<SeqOptions>,
    /// Persistence-engine data (1..=255 bytes), if carried (version 1 only).
    pub pe_data: Option<&'a [u8]>,
    /// Persistence-engine name (1..=16 bytes, e.g. `b"sip"`), if carried (version 1 only).
    pub pe_name: Option<&'a [u8]>,
}

impl SyncConn<'_> {
    /// The flags a kernel backup gives the imported entry: for version 1
    /// `(flags & IP_VS_CONN_F_BACKUP_MASK) | IP_VS_CONN_F_SYNC` (`ip_vs_proc_sync_conn()`), for
    /// version 0 `(flags | IP_VS_CONN_F_SYNC) & !IP_VS_CONN_F_HASHED`
    /// (`ip_vs_process_message_v0()`).
    pub fn import_flags(&self, version: SyncVersion) -> u32 {
        match version {
            SyncVersion::V0 => (self.flags | IP_VS_CONN_F_SYNC) & !IP_VS_CONN_F_HASHED,
            SyncVersion::V1 => (self.flags & IP_VS_CONN_F_BACKUP_MASK) | IP_VS_CONN_F_SYNC,
        }
    }

    /// Whether the entry is a persistence template ([`IP_VS_CONN_F_TEMPLATE`]).
    pub fn is_template(&self) -> bool {
        self.flags & IP_VS_CONN_F_TEMPLATE != 0
    }
}

/// Why a sync message or connection was refused, or could not be written. Each decoding
/// variant names the kernel check it mirrors; `index` is the connection's position (0-based)
/// in its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The datagram is shorter than the 4-byte header ("message header too short",
    /// `ip_vs_process_message()`).
    #[error("sync message of {len} bytes is shorter than its 4-byte header")]
    HeaderTooShort {
        /// Received length in bytes.
        len: usize,
    },
    /// The header's size field differs from the datagram length ("bogus message size").
    #[error("sync message header says {header} bytes, {actual} received")]
    SizeMismatch {
        /// Size field of the header, bytes.
        header: u16,
        /// Received length in bytes.
        actual: usize,
    },
    /// A backup with a non-zero syncid ignores messages of other syncids.
    #[error("sync message of syncid {got} ignored by a backup of syncid {want}")]
    SyncIdMismatch {
        /// Syncid in the message.
        got: u8,
        /// The backup's syncid.
        want: u8,
    },
    /// Version 0: fewer than 24 bytes left for the next counted connection ("BACKUP v0, bogus
    /// conn"); the rest of the message is dropped.
    #[error("v0 connection {index} truncated")]
    V0ConnTruncated {
        /// Connection position in the message.
        index: u8,
    },
    /// Version 0: the flags announce sequence data but fewer than 24 more bytes follow
    /// ("Dropping buffer bogus conn options").
    #[error("v0 connection {index}: sequence data truncated")]
    V0OptionsTruncated {
        /// Connection position in the message.
        index: u8,
    },
    /// Version 1: fewer than 36 bytes left for the next counted connection ("Dropping buffer,
    /// too small").
    #[error("v1 connection {index} truncated")]
    V1ConnTruncated {
        /// Connection position in the message.
        index: u8,
    },
    /// Version 1: the connection's size runs past the end of the message ("msg > buffer").
    #[error("v1 connection {index} of {size} bytes runs past the message end")]
    V1ConnBeyondMessage {
        /// Connection position in the message.
        index: u8,
        /// Size from `ver_size`, bytes.
        size: u16,
    },
    /// Version 1: the connection-format version (top 4 bits of `ver_size`) is not 0 ("Unknown
    /// version").
    #[error("v1 connection {index} has unknown format version {version}")]
    UnknownConnVersion {
        /// Connection position in the message.
        index: u8,
        /// The 4-bit version found.
        version: u8,
    },
    /// Version 1: the type byte is even but not 0 (decoding error -10).
    #[error("v1 connection {index} has unknown type {conn_type:#04x}")]
    BadConnType {
        /// Connection position in the message.
        index: u8,
        /// The type byte.
        conn_type: u8,
    },
    /// Version 1: the connection's size is smaller than its fixed part, 36 (IPv4) or 72 (IPv6)
    /// bytes (error -20).
    #[error("v1 connection {index} size {size} is below the {needed}-byte fixed part")]
    ConnSizeTooSmall {
        /// Connection position in the message.
        index: u8,
        /// Size from `ver_size`, bytes.
        size: u16,
        /// Required fixed part, bytes.
        needed: u16,
    },
    /// Version 1: one byte left where an option's 2-byte type/length header should be (error
    /// -30).
    #[error("v1 connection {index}: option header truncated")]
    OptionHeaderTruncated {
        /// Connection position in the message.
        index: u8,
    },
    /// Version 1: an option of length 0, or longer than what is left of the connection (error
    /// -40).
    #[error("v1 connection {index}: option {option} has bad length {len}")]
    OptionLength {
        /// Connection position in the message.
        index: u8,
        /// Option type byte.
        option: u8,
        /// Option length byte.
        len: u8,
    },
    /// Version 1: a sequence-data option whose length is not 24 (error -50).
    #[error("v1 connection {index}: sequence option of {len} bytes, 24 expected")]
    SeqOptionLength {
        /// Connection position in the message.
        index: u8,
        /// Option length byte.
        len: u8,
    },
    /// Version 1: the same option twice in one connection (errors -50, -60, -70).
    #[error("v1 connection {index}: option {option} found twice")]
    DuplicateOption {
        /// Connection position in the message.
        index: u8,
        /// Option type (without [`IPVS_OPT_F_PARAM`]).
        option: u8,
    },
    /// Version 1: a persistence-engine name longer than 16 bytes (error -70).
    #[error("v1 connection {index}: PE name of {len} bytes, at most 16")]
    PeNameTooLong {
        /// Connection position in the message.
        index: u8,
        /// Option length byte.
        len: u8,
    },
    /// Version 1: an unknown option without [`IPVS_OPT_F_PARAM`] ("Unknown mandatory param",
    /// code 20): this connection is skipped, the next ones are read.
    #[error("v1 connection {index}: unknown mandatory option {option}")]
    UnknownMandatoryOption {
        /// Connection position in the message.
        index: u8,
        /// Option type byte.
        option: u8,
    },
    /// A non-template connection of a protocol IPVS does not handle ("Unsupported protocol"):
    /// skipped.
    #[error("connection {index}: unsupported protocol {protocol}")]
    UnknownProtocol {
        /// Connection position in the message.
        index: u8,
        /// IP protocol number.
        protocol: u8,
    },
    /// A non-template connection whose state is not below the protocol's number of states
    /// ("Invalid state"): skipped.
    #[error("connection {index}: invalid state {state} for protocol {protocol}")]
    InvalidState {
        /// Connection position in the message.
        index: u8,
        /// IP protocol number.
        protocol: u8,
        /// State number.
        state: u16,
    },
    /// Version 1: persistence-engine data without a persistence-engine name ("Invalid PE
    /// parameters", code 50): skipped.
    #[error("v1 connection {index}: PE data without PE name")]
    PeDataWithoutName {
        /// Connection position in the message.
        index: u8,
    },
    /// Writer: the connection (`needed` bytes with alignment padding) does not fit in the
    /// `remaining` bytes of the buffer; send the message and start a new one.
    #[error("sync message full: connection needs {needed} bytes, {remaining} left")]
    MessageFull {
        /// Bytes the connection needs, padding included.
        needed: usize,
        /// Bytes left in the buffer.
        remaining: usize,
    },
    /// Writer: the message already holds 255 connections (the count is one byte).
    #[error("sync message already holds 255 connections")]
    TooManyConns,
    /// Writer: the buffer cannot even hold the message header.
    #[error("buffer of {len} bytes cannot hold a {min}-byte sync message header")]
    BufferTooSmall {
        /// Buffer length in bytes.
        len: usize,
        /// Header length in bytes.
        min: usize,
    },
    /// Writer: version 0 carries IPv4 connections only (`ip_vs_sync_conn_v0()` skips others).
    #[error("version 0 sync messages carry IPv4 connections only")]
    Ipv6InV0,
    /// Writer: CIP, VIP and RIP are not all of the same address family.
    #[error("client, virtual and real-server addresses are of different families")]
    MixedAddressFamilies,
    /// Writer: persistence-engine data must be 1..=255 bytes.
    #[error("PE data of {len} bytes, 1..=255 allowed")]
    PeDataLength {
        /// Length in bytes.
        len: usize,
    },
    /// Writer: a persistence-engine name must be 1..=16 bytes.
    #[error("PE name of {len} bytes, 1..=16 allowed")]
    PeNameLength {
        /// Length in bytes.
        len: usize,
    },
    /// Config: `sync_threshold` must be below `sync_period` unless the period is 0 (sysctl
    /// `sync_threshold` handler, `proc_do_sync_threshold()`).
    #[error("sync_threshold {threshold} must be below sync_period {period} (or period 0)")]
    InvalidSyncThreshold {
        /// The threshold.
        threshold: u32,
        /// The period.
        period: u32,
    },
    /// Config: `sync_retries` is 0..=3 (the kernel clamps it).
    #[error("sync_retries {retries} is above 3")]
    InvalidSyncRetries {
        /// The value given.
        retries: u8,
    },
}

impl SyncError {
    /// Whether the kernel drops the rest of the message on this error (`true`) or only skips
    /// the one connection and reads the next (`false`). The [`SyncConns`] iterator stops after
    /// an error for which this is `true`. Writer and config errors return `false`.
    pub fn ends_message(&self) -> bool {
        matches!(
            self,
            SyncError::HeaderTooShort { .. }
                | SyncError::SizeMismatch { .. }
                | SyncError::SyncIdMismatch { .. }
                | SyncError::V0ConnTruncated { .. }
                | SyncError::V0OptionsTruncated { .. }
                | SyncError::V1ConnTruncated { .. }
                | SyncError::V1ConnBeyondMessage { .. }
                | SyncError::UnknownConnVersion { .. }
                | SyncError::BadConnType { .. }
                | SyncError::ConnSizeTooSmall { .. }
                | SyncError::OptionHeaderTruncated { .. }
                | SyncError::OptionLength { .. }
                | SyncError::SeqOptionLength { .. }
                | SyncError::DuplicateOption { .. }
                | SyncError::PeNameTooLong { .. }
        )
    }
}
