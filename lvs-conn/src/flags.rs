//! Connection flags and forwarding methods with the kernel's numeric values
//! (include/uapi/linux/ip_vs.h `IP_VS_CONN_F_*`).

/// Kernel `IP_VS_CONN_F_*` bit values (include/uapi/linux/ip_vs.h). The table stores these
/// bits unchanged in each entry, so the sync glue copies them to the wire as they are.
pub mod conn_flags {
    /// `IP_VS_CONN_F_FWD_MASK`: the forwarding method bits.
    pub const FWD_MASK: u32 = 0x0007;
    /// `IP_VS_CONN_F_MASQ`: NAT.
    pub const MASQ: u32 = 0x0000;
    /// `IP_VS_CONN_F_LOCALNODE`.
    pub const LOCALNODE: u32 = 0x0001;
    /// `IP_VS_CONN_F_TUNNEL`.
    pub const TUNNEL: u32 = 0x0002;
    /// `IP_VS_CONN_F_DROUTE`: direct routing.
    pub const DROUTE: u32 = 0x0003;
    /// `IP_VS_CONN_F_BYPASS`: cache bypass.
    pub const BYPASS: u32 = 0x0004;
    /// FULLNAT (not in mainline Linux; the value DPVS and the Alibaba FULLNAT patches use).
    pub const FULLNAT: u32 = 0x0005;
    /// `IP_VS_CONN_F_SYNC`: entry created by connection sync.
    pub const SYNC: u32 = 0x0020;
    /// `IP_VS_CONN_F_HASHED`: entry is in the lookup index.
    pub const HASHED: u32 = 0x0040;
    /// `IP_VS_CONN_F_NOOUTPUT`: no reply seen yet on a non-NAT connection.
    pub const NOOUTPUT: u32 = 0x0080;
    /// `IP_VS_CONN_F_INACTIVE`: counted in inactconns.
    pub const INACTIVE: u32 = 0x0100;
    /// `IP_VS_CONN_F_OUT_SEQ`.
    pub const OUT_SEQ: u32 = 0x0200;
    /// `IP_VS_CONN_F_IN_SEQ`.
    pub const IN_SEQ: u32 = 0x0400;
    /// `IP_VS_CONN_F_SEQ_MASK`.
    pub const SEQ_MASK: u32 = 0x0600;
    /// `IP_VS_CONN_F_NO_CPORT`.
    pub const NO_CPORT: u32 = 0x0800;
    /// `IP_VS_CONN_F_TEMPLATE`: persistence template, not a connection.
    pub const TEMPLATE: u32 = 0x1000;
    /// `IP_VS_CONN_F_ONE_PACKET`: one-packet scheduling.
    pub const ONE_PACKET: u32 = 0x2000;
    /// `IP_VS_CONN_F_BACKUP_MASK`: bits a backup accepts from a sync message.
    pub const BACKUP_MASK: u32 = FWD_MASK | NOOUTPUT | INACTIVE | SEQ_MASK | NO_CPORT | TEMPLATE;
    /// `IP_VS_CONN_F_BACKUP_UPD_MASK`: bits a backup updates on an existing entry.
    pub const BACKUP_UPD_MASK: u32 = INACTIVE | SEQ_MASK;
}

/// Forwarding method of a connection (ipvsadm -m / -g / -i, FULLNAT, Local).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FwdMethod {
    /// NAT, ipvsadm `-m`, "Masq" (`IP_VS_CONN_F_MASQ` = 0).
    Masq,
    /// Local node delivery, "Local" (`IP_VS_CONN_F_LOCALNODE` = 1).
    Local,
    /// IP tunnelling, ipvsadm `-i`, "Tunnel" (`IP_VS_CONN_F_TUNNEL` = 2).
    Tunnel,
    /// Direct routing, ipvsadm `-g`, "Route" (`IP_VS_CONN_F_DROUTE` = 3).
    DirectRoute,
    /// Cache bypass (`IP_VS_CONN_F_BYPASS` = 4).
    Bypass,
    /// FULLNAT: source and destination rewritten; replies come back to the local address
    /// (value 5, as DPVS).
    FullNat,
}

impl FwdMethod {
    /// The kernel flag value in `IP_VS_CONN_F_FWD_MASK`.
    pub fn bits(self) -> u32 {
        match self {
            FwdMethod::Masq => conn_flags::MASQ,
            FwdMethod::Local => conn_flags::LOCALNODE,
            FwdMethod::Tunnel => conn_flags::TUNNEL,
            FwdMethod::DirectRoute => conn_flags::DROUTE,
            FwdMethod::Bypass => conn_flags::BYPASS,
            FwdMethod::FullNat => conn_flags::FULLNAT,
        }
    }
    /// The method of flag bits `flags & FWD_MASK`; `None` for 6 and 7.
    pub fn from_bits(flags: u32) -> Option<FwdMethod> {
        match flags & conn_flags::FWD_MASK {
            0 => Some(FwdMethod::Masq),
            1 => Some(FwdMethod::Local),
            2 => Some(FwdMethod::Tunnel),
            3 => Some(FwdMethod::DirectRoute),
            4 => Some(FwdMethod::Bypass),
            5 => Some(FwdMethod::FullNat),
            _ => None,
        }
    }
    /// Whether replies pass through the director (NAT and FULLNAT). Every other method gets
    /// NOOUTPUT at bind time (`__ip_vs_update_dest`, ip_vs_ctl.c), so its input packets use
    /// the INPUT_ONLY rows until an output packet is seen.
    pub fn sees_replies(self) -> bool {
        matches!(self, FwdMethod::Masq | FwdMethod::FullNat)
    }
}
