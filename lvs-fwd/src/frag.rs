//! IPv4 fragmentation of a frame longer than the egress MTU, as net/ipv4/ip_output.c
//! `ip_do_fragment` (its slow path) does it by the rules of RFC 791 section 3.2
//! ("Fragmentation and Reassembly"): every fragment but the last carries a multiple of 8 data
//! bytes; the first keeps every IP option, later ones only the options whose copied flag
//! (bit 0x80 of the type) is set, the others overwritten with NOP so the header length stays
//! (`ip_options_fragment`); MF is set on all but the last (on the last too when the packet
//! was itself a non-last fragment); offsets continue from the packet's own; the header
//! checksum is recomputed on each. [`fragment_ipv6`] does the same for IPv6 as
//! net/ipv6/ip6_output.c `ip6_fragment` (RFC 8200 section 4.5).

use crate::checksum::checksum;
use crate::error::FwdError;

/// IPv4 header flag Don't Fragment (in the flags / fragment offset word).
const IP_DF: u16 = 0x4000;
/// IPv4 header flag More Fragments.
const IP_MF: u16 = 0x2000;
/// Mask of the fragment offset (units of 8 bytes).
const IP_OFFSET: u16 = 0x1fff;

/// Split the IPv4 packet of the Ethernet frame `frame` (with at most one 802.1Q tag) into
/// fragments whose IP packets are at most `mtu` bytes, building each whole frame (the link
/// header copied from `frame`) in `scratch` and handing it to `out`, in order. A packet that
/// fits is handed over as is (one call). Returns the number of frames handed over.
///
/// The caller uses it on a frame to transmit that is longer than its egress MTU (e.g. a
/// reassembled datagram lvs-core's director forwards whole, IPv4 without DF).
///
/// Errors: [`FwdError::UnsupportedEtherType`] (not IPv4), [`FwdError::UnsupportedIpVersion`],
/// [`FwdError::Truncated`] / [`FwdError::BadHeader`] (header or total length inconsistent
/// with the frame; an `mtu` leaving less than 8 data bytes after the header; a fragment
/// offset that would pass 13 bits), [`FwdError::DontFragment`] (DF set and the packet does
/// not fit: the kernel answers with ICMP fragmentation needed instead), and
/// [`FwdError::NoHeadroom`] when `scratch` cannot hold one fragment frame. Nothing is handed
/// to `out` when an error is returned.
pub fn fragment_ipv4(
    frame: &[u8],
    mtu: usize,
    scratch: &mut [u8],
    mut out: impl FnMut(&[u8]),
) -> Result<usize, FwdError> {
    let be16 = |at: usize| be16_at(frame, at);
    let l3 = l3_of(frame, 0x0800)?;
    let vihl = *frame.get(l3).ok_or(FwdError::Truncated {
        needed: l3 + 1,
        got: frame.len(),
    })?;
    if vihl >> 4 != 4 {
        return Err(FwdError::UnsupportedIpVersion(vihl >> 4));
    }
    let hlen = usize::from(vihl & 0x0f) * 4;
    let tot = usize::from(be16(l3 + 2)?);
    if hlen < 20 || tot < hlen {
        return Err(FwdError::BadHeader("ipv4 header or total length"));
    }
    let packet = packet_of(frame, l3 + tot)?;
    if tot <= mtu {
        out(packet);
        return Ok(1);
    }
    let fo = be16(l3 + 6)?;
    if fo & IP_DF != 0 {
        return Err(FwdError::DontFragment);
    }
    let per = mtu.saturating_sub(hlen) & !7;
    if per == 0 {
        return Err(FwdError::BadHeader("mtu leaves no fragment data"));
    }
    let data_len = tot - hlen;
    let base = usize::from(fo & IP_OFFSET);
    if base + (data_len - 1) / 8 > usize::from(IP_OFFSET) {
        return Err(FwdError::BadHeader("fragment offset overflow"));
    }
    let need = l3 + hlen + per.min(data_len);
    if scratch.len() < need {
        return Err(FwdError::NoHeadroom {
            needed: need,
            available: scratch.len(),
        });
    }
    let (Some(head), Some(data)) = (packet.get(..l3 + hlen), packet.get(l3 + hlen..)) else {
        return Err(FwdError::BadHeader("ipv4 header"));
    };
    let mut pos = 0;
    let mut n = 0;
    while pos < data_len {
        let len = per.min(data_len - pos);
        let more = pos + len < data_len || fo & IP_MF != 0;
        let (Some(h), Some(piece)) = (scratch.get_mut(..l3 + hlen), data.get(pos..pos + len))
        else {
            return Err(FwdError::BadHeader("fragment bounds"));
        };
        h.copy_from_slice(head);
        if pos > 0
            && let Some(opts) = h.get_mut(l3 + 20..)
        {
            strip_uncopied_options(opts);
        }
        let ip = h.get_mut(l3..).ok_or(FwdError::BadHeader("ipv4 header"))?;
        let off =
            (fo & !(IP_OFFSET | IP_MF)) | (base + pos / 8) as u16 | if more { IP_MF } else { 0 };
        set16(ip, 2, (hlen + len) as u16);
        set16(ip, 6, off);
        set16(ip, 10, 0);
        let c = checksum(ip.get(..hlen).unwrap_or_default());
        set16(ip, 10, c);
        let end = l3 + hlen + len;
        if let Some(d) = scratch.get_mut(l3 + hlen..end) {
            d.copy_from_slice(piece);
        }
        if let Some(f) = scratch.get(..end) {
            out(f);
        }
        n += 1;
        pos += len;
    }
    Ok(n)
}

/// Split the IPv6 packet of the Ethernet frame `frame` (with at most one 802.1Q tag) into
/// fragments whose IP packets are at most `mtu` bytes, identification `id` (the caller's
/// choice, the kernel's `ipv6_select_ident`), as net/ipv6/ip6_output.c `ip6_fragment` and RFC
/// 8200 section 4.5: the unfragmentable part (IPv6 header, hop-by-hop options, routing header
/// and destination options placed before a routing header, as `ip6_find_1stfragopt`) is
/// repeated in every fragment, followed by a Fragment header (its Next Header the first
/// fragmentable header's type) and a multiple of 8 data bytes (the last: the rest); the
/// payload length is fixed on each. Each whole frame is built in `scratch` and handed to
/// `out`, in order. A packet that fits is handed over as is. Returns the number of frames.
///
/// Errors: [`FwdError::UnsupportedEtherType`] (not IPv6), [`FwdError::UnsupportedIpVersion`],
/// [`FwdError::Truncated`] / [`FwdError::BadHeader`] (lengths inconsistent with the frame, an
/// extension header chain that runs off the packet or is longer than
/// [`crate::MAX_IPV6_EXT_HEADERS`], a packet that already carries a Fragment header, an `mtu`
/// leaving less than 8 data bytes), [`FwdError::NoHeadroom`] when `scratch` cannot hold one
/// fragment frame. Nothing is handed to `out` when an error is returned.
pub fn fragment_ipv6(
    frame: &[u8],
    mtu: usize,
    id: u32,
    scratch: &mut [u8],
    mut out: impl FnMut(&[u8]),
) -> Result<usize, FwdError> {
    let byte = |at: usize| -> Result<u8, FwdError> {
        frame.get(at).copied().ok_or(FwdError::Truncated {
            needed: at + 1,
            got: frame.len(),
        })
    };
    let be16 = |at: usize| be16_at(frame, at);
    let l3 = l3_of(frame, 0x86dd)?;
    let v = byte(l3)? >> 4;
    if v != 6 {
        return Err(FwdError::UnsupportedIpVersion(v));
    }
    let tot = 40 + usize::from(be16(l3 + 4)?);
    let packet = packet_of(frame, l3 + tot)?;
    if tot <= mtu {
        out(packet);
        return Ok(1);
    }
    // ip6_find_1stfragopt: the unfragmentable part ends before the first header that is not
    // hop-by-hop, routing, or destination options followed by a routing header.
    let mut nh_at = l3 + 6;
    let mut nh = byte(nh_at)?;
    let mut off = l3 + 40;
    let mut count = 0;
    loop {
        match nh {
            0 | 43 | 60 => {
                let len = (usize::from(byte(off + 1)?) + 1) * 8;
                if nh == 60 && byte(off)? != 43 {
                    break;
                }
                nh_at = off;
                nh = byte(off)?;
                off += len;
                if off > l3 + tot {
                    return Err(FwdError::BadHeader("ipv6 extension header beyond packet"));
                }
            }
            44 => return Err(FwdError::BadHeader("already a fragment")),
            _ => break,
        }
        count += 1;
        if count > crate::MAX_IPV6_EXT_HEADERS {
            return Err(FwdError::ExtensionHeaderChain);
        }
    }
    let unfrag = off - l3;
    let per = mtu.saturating_sub(unfrag + 8) & !7;
    if per == 0 {
        return Err(FwdError::BadHeader("mtu leaves no fragment data"));
    }
    let data_len = tot - unfrag;
    let need = off + 8 + per.min(data_len);
    if scratch.len() < need {
        return Err(FwdError::NoHeadroom {
            needed: need,
            available: scratch.len(),
        });
    }
    let (Some(head), Some(data)) = (packet.get(..off), packet.get(off..)) else {
        return Err(FwdError::BadHeader("ipv6 header"));
    };
    let mut pos = 0;
    let mut n = 0;
    while pos < data_len {
        let len = per.min(data_len - pos);
        let more = pos + len < data_len;
        let end = off + 8 + len;
        let (Some(h), Some(piece)) = (scratch.get_mut(..end), data.get(pos..pos + len)) else {
            return Err(FwdError::BadHeader("fragment bounds"));
        };
        let (hd, rest) = h.split_at_mut(off);
        hd.copy_from_slice(head);
        if let Some(b) = hd.get_mut(nh_at) {
            *b = 44;
        }
        set16(hd, l3 + 4, (unfrag - 40 + 8 + len) as u16);
        let (fh, d) = rest.split_at_mut(8);
        let fo = ((pos / 8) as u16) << 3 | u16::from(more);
        fh.copy_from_slice(&[nh, 0, 0, 0, 0, 0, 0, 0]);
        set16(fh, 2, fo);
        if let Some(x) = fh.get_mut(4..8) {
            x.copy_from_slice(&id.to_be_bytes());
        }
        d.copy_from_slice(piece);
        out(h);
        n += 1;
        pos += len;
    }
    Ok(n)
}

/// The big-endian u16 at `at` of `frame`.
fn be16_at(frame: &[u8], at: usize) -> Result<u16, FwdError> {
    match (frame.get(at), frame.get(at + 1)) {
        (Some(&a), Some(&b)) => Ok(u16::from_be_bytes([a, b])),
        _ => Err(FwdError::Truncated {
            needed: at + 2,
            got: frame.len(),
        }),
    }
}

/// Offset of the IP header behind the Ethernet header (at most one 802.1Q tag), which must
/// announce `ethertype`.
fn l3_of(frame: &[u8], ethertype: u16) -> Result<usize, FwdError> {
    let et = be16_at(frame, 12)?;
    let (l3, inner) = if et == 0x8100 {
        (18, be16_at(frame, 16)?)
    } else {
        (14, et)
    };
    if inner != ethertype {
        return Err(FwdError::UnsupportedEtherType(inner));
    }
    Ok(l3)
}

/// `frame[..end]`: the frame up to the end of its IP packet.
fn packet_of(frame: &[u8], end: usize) -> Result<&[u8], FwdError> {
    frame.get(..end).ok_or(FwdError::Truncated {
        needed: end,
        got: frame.len(),
    })
}

fn set16(b: &mut [u8], at: usize, v: u16) {
    if let Some(x) = b.get_mut(at..at + 2) {
        x.copy_from_slice(&v.to_be_bytes());
    }
}

/// `ip_options_fragment`: overwrite every option whose copied flag is clear with NOPs (1),
/// stopping at End of Option List (0) or a malformed length.
fn strip_uncopied_options(opts: &mut [u8]) {
    let mut i = 0;
    while let Some(&t) = opts.get(i) {
        match t {
            0 => return,
            1 => i += 1,
            _ => {
                let Some(&l) = opts.get(i + 1) else { return };
                let l = usize::from(l);
                if l < 2 || i + l > opts.len() {
                    return;
                }
                if t & 0x80 == 0
                    && let Some(o) = opts.get_mut(i..i + l)
                {
                    o.fill(1);
                }
                i += l;
            }
        }
    }
}
