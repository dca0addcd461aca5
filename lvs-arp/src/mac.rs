//! Ethernet (IEEE 802 MAC-48) addresses.

use core::fmt;
use core::net::Ipv6Addr;
use core::str::FromStr;

/// A 48-bit Ethernet MAC address, stored in network byte order (first octet first), shown
/// the way `ip link` and `arp -an` print it: `08:00:27:9f:f2:71`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `ff:ff:ff:ff:ff:ff`, the Ethernet broadcast address (`dev->broadcast` in the kernel).
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// `00:00:00:00:00:00`: the target MAC of an ARP request as the kernel sends it
    /// (net/ipv4/arp.c `arp_create` with `target_hw == NULL`).
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// The six octets, first octet first.
    pub const fn octets(self) -> [u8; 6] {
        self.0
    }

    /// True for `ff:ff:ff:ff:ff:ff`.
    pub fn is_broadcast(self) -> bool {
        self.0 == [0xff; 6]
    }

    /// True when the group bit (least significant bit of the first octet) is set; broadcast is
    /// a group address too.
    pub fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }

    /// True for `00:00:00:00:00:00`.
    pub fn is_zero(self) -> bool {
        self.0 == [0; 6]
    }

    /// The Ethernet group address an IPv6 multicast address maps to: `33:33` followed by the
    /// low 32 bits of the address (RFC 2464 section 7; kernel `ipv6_eth_mc_map`).
    pub fn ipv6_multicast(group: Ipv6Addr) -> MacAddr {
        let o = group.octets();
        MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            o[0], o[1], o[2], o[3], o[4], o[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(o: [u8; 6]) -> Self {
        MacAddr(o)
    }
}

/// Error of [`MacAddr::from_str`]: the text is not six colon-separated hex octets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a MAC address (want six hex octets like 08:00:27:7e:b8:08): {0:?}")]
pub struct MacParseError(pub String);

impl FromStr for MacAddr {
    type Err = MacParseError;

    /// Parses `08:00:27:7e:b8:08` (also with `-` separators), as `arp -s` accepts it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut n = 0usize;
        for part in s.split([':', '-']) {
            let slot = out.get_mut(n).ok_or_else(|| MacParseError(s.to_owned()))?;
            if part.is_empty() || part.len() > 2 {
                return Err(MacParseError(s.to_owned()));
            }
            *slot = u8::from_str_radix(part, 16).map_err(|_| MacParseError(s.to_owned()))?;
            n += 1;
        }
        if n != 6 {
            return Err(MacParseError(s.to_owned()));
        }
        Ok(MacAddr(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip_like_arp_s() {
        // The seeds' `arp -s 192.168.1.120 08:00:27:7e:b8:08`.
        let m: MacAddr = "08:00:27:7e:b8:08".parse().unwrap();
        assert_eq!(m.0, [0x08, 0x00, 0x27, 0x7e, 0xb8, 0x08]);
        assert_eq!(m.to_string(), "08:00:27:7e:b8:08");
        for bad in [
            "",
            "08:00:27:7e:b8",
            "08:00:27:7e:b8:08:01",
            "zz:00:27:7e:b8:08",
            "080:0:27:7e:b8:08",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ipv6_multicast_mapping_rfc2464() {
        // RFC 2464 section 7: 33:33 + last four octets. ff02::1 -> 33:33:00:00:00:01.
        assert_eq!(
            MacAddr::ipv6_multicast("ff02::1".parse().unwrap()).to_string(),
            "33:33:00:00:00:01"
        );
        assert_eq!(
            MacAddr::ipv6_multicast("ff02::1:ff12:3456".parse().unwrap()).to_string(),
            "33:33:ff:12:34:56"
        );
    }
}
