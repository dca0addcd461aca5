//! ECN across the tunnel: RFC 6040 (Tunnelling of Explicit Congestion Notification) and the
//! kernel's `INET_ECN_encapsulate` (include/net/inet_ecn.h).

/// ECN codepoint Not-ECT (RFC 3168 section 5).
pub(crate) const NOT_ECT: u8 = 0b00;
/// ECN codepoint ECT(1).
pub(crate) const ECT_1: u8 = 0b01;
/// ECN codepoint ECT(0).
pub(crate) const ECT_0: u8 = 0b10;
/// ECN codepoint CE (congestion experienced).
pub(crate) const CE: u8 = 0b11;

/// The outer DS field for an inner DS field `inner` (IPv4 TOS byte or IPv6 traffic class), as
/// `ip_vs_prepare_tunneled_skb` computes it: `INET_ECN_encapsulate(inner, inner)`. The DSCP (upper
/// six bits) is copied; the ECN field is copied except that CE becomes ECT(0) (the RFC 3168
/// section 9.1.1 "full-functionality" ingress, which RFC 6040 section 4.1 keeps as a compliant
/// alternative to its normal mode, where CE would be copied).
#[inline]
#[must_use]
pub fn ecn_encapsulate(inner: u8) -> u8 {
    let ecn = inner & 0b11;
    (inner & !0b11) | if ecn == CE { ECT_0 } else { ecn }
}

/// Result of RFC 6040 decapsulation for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcnDecap {
    /// Forward with this inner ECN codepoint (two bits, 0..=3). `alarm` marks the combinations
    /// RFC 6040 Figure 4 flags with (!!!) or (!): an unexpected outer codepoint worth logging.
    Forward {
        /// The outgoing ECN codepoint.
        ecn: u8,
        /// Whether the combination was unexpected.
        alarm: bool,
    },
    /// Drop: outer CE on a Not-ECT inner packet (Figure 4, `<drop>(!!!)`).
    Drop,
}

/// RFC 6040 section 4.2, Figure 4: the outgoing ECN codepoint for an arriving inner codepoint
/// `inner` and outer codepoint `outer` (each the low two bits of the DS field; higher bits are
/// ignored).
///
/// ```text
///   inner \ outer | Not-ECT | ECT(0)      | ECT(1)      | CE
///   Not-ECT       | Not-ECT | Not-ECT(!!!)| Not-ECT(!!!)| <drop>(!!!)
///   ECT(0)        | ECT(0)  | ECT(0)      | ECT(1)      | CE
///   ECT(1)        | ECT(1)  | ECT(1) (!)  | ECT(1)      | CE
///   CE            | CE      | CE          | CE(!!!)     | CE
/// ```
///
/// The kernel's `__INET_ECN_decapsulate` differs in one cell: it leaves ECT(0) inner under an
/// ECT(1) outer as ECT(0) (it only ever propagates CE); we follow the RFC table.
#[must_use]
pub fn ecn_decapsulate(inner: u8, outer: u8) -> EcnDecap {
    let inner = inner & 0b11;
    let outer = outer & 0b11;
    match (inner, outer) {
        (NOT_ECT, CE) => EcnDecap::Drop,
        (NOT_ECT, o) => EcnDecap::Forward {
            ecn: NOT_ECT,
            alarm: o != NOT_ECT,
        },
        (_, CE) => EcnDecap::Forward {
            ecn: CE,
            alarm: false,
        },
        (ECT_0, ECT_1) => EcnDecap::Forward {
            ecn: ECT_1,
            alarm: false,
        },
        (i, o) => EcnDecap::Forward {
            ecn: i,
            alarm: (i == ECT_1 && o == ECT_0) || (i == CE && o == ECT_1),
        },
    }
}
