//! Typed errors of the connection table.

use thiserror::Error;

/// Why a connection-table operation was refused. Nothing in this crate panics on input; every
/// refusal is one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConnError {
    /// The table holds its maximum number of entries (or bytes) and no entry of a sheddable
    /// class was left to evict; counted in [`crate::ConnStats::refused_full`]. ESTABLISHED
    /// entries are never evicted to admit a new flow.
    #[error("connection table full")]
    TableFull,
    /// An entry with the same inbound key (protocol, client, virtual) already exists.
    #[error("connection already exists")]
    Exists,
    /// FULLNAT: the (local address, local port, real server) tuple is already used.
    #[error("FULLNAT local address/port already in use")]
    LocalPortInUse,
    /// Client, virtual, real-server and local addresses must all be IPv4 or all IPv6.
    #[error("address families of the tuple differ")]
    FamilyMismatch,
    /// Connections are kept for TCP (6), UDP (17) and SCTP (132) only.
    #[error("unsupported protocol {0}")]
    UnsupportedProtocol(u8),
    /// The [`crate::DestId`] is beyond the configured `max_dests`.
    #[error("real server handle {0} out of range")]
    DestOutOfRange(u32),
    /// The [`crate::ConnId`] does not name a live entry (expired, removed or never issued).
    #[error("no such connection")]
    NoSuchConn,
    /// The entry is a connection where a persistence template was expected.
    #[error("not a persistence template")]
    NotTemplate,
    /// The controlling entry given to `insert` is not a live template/connection.
    #[error("no such controlling connection")]
    NoSuchControl,
    /// One-packet scheduling (-o) connections are never inserted (ip_vs_conn.c: "never
    /// hashed"); lvs-core forwards the packet and forgets it.
    #[error("one-packet connections are not stored")]
    OnePacket,
    /// A timeout beyond `INT_MAX / HZ` seconds (ip_vs_ctl.c `ip_vs_set_timeout`).
    #[error("timeout {0} s out of range")]
    TimeoutOutOfRange(u32),
    /// FULLNAT on a sharded table: the local port does not map to the client's shard.
    #[error("FULLNAT local port maps to another shard")]
    WrongShard,
    /// A sync message's state number is out of range for its protocol (TCP 0..=10, SCTP
    /// 0..=13, UDP 0, templates 0..=1).
    #[error("invalid state {0} in sync message")]
    InvalidSyncState(u16),
    /// A FULLNAT connection needs its local address and port.
    #[error("FULLNAT connection without local address/port")]
    MissingLocal,
}
