//! The names of the kernel counters (as nstat prints them, `Group.Name`)
//! and sysctls synack reads, each written once.

/// Counters of /proc/net/snmp and /proc/net/netstat.
pub mod counter {
    pub const TCP_ACTIVE_OPENS: &str = "Tcp.ActiveOpens";
    pub const TCP_ATTEMPT_FAILS: &str = "Tcp.AttemptFails";
    pub const TCP_CURR_ESTAB: &str = "Tcp.CurrEstab";
    pub const TCP_ESTAB_RESETS: &str = "Tcp.EstabResets";
    pub const TCP_IN_ERRS: &str = "Tcp.InErrs";
    pub const TCP_MAX_CONN: &str = "Tcp.MaxConn";
    pub const TCP_OUT_RSTS: &str = "Tcp.OutRsts";
    pub const TCP_PASSIVE_OPENS: &str = "Tcp.PassiveOpens";
    pub const TCP_RETRANS_SEGS: &str = "Tcp.RetransSegs";
    pub const TCP_RTO_ALGORITHM: &str = "Tcp.RtoAlgorithm";
    pub const TCP_RTO_MAX: &str = "Tcp.RtoMax";
    pub const TCP_RTO_MIN: &str = "Tcp.RtoMin";
    pub const EMBRYONIC_RSTS: &str = "TcpExt.EmbryonicRsts";
    pub const LISTEN_DROPS: &str = "TcpExt.ListenDrops";
    pub const LISTEN_OVERFLOWS: &str = "TcpExt.ListenOverflows";
    pub const SYNCOOKIES_FAILED: &str = "TcpExt.SyncookiesFailed";
    pub const SYNCOOKIES_RECV: &str = "TcpExt.SyncookiesRecv";
    pub const SYNCOOKIES_SENT: &str = "TcpExt.SyncookiesSent";
    pub const TCP_FAST_OPEN_ACTIVE: &str = "TcpExt.TCPFastOpenActive";
    pub const TCP_FAST_OPEN_ACTIVE_FAIL: &str = "TcpExt.TCPFastOpenActiveFail";
    pub const TCP_FAST_OPEN_BLACKHOLE: &str = "TcpExt.TCPFastOpenBlackhole";
    pub const TCP_FAST_OPEN_COOKIE_REQD: &str = "TcpExt.TCPFastOpenCookieReqd";
    pub const TCP_FAST_OPEN_LISTEN_OVERFLOW: &str = "TcpExt.TCPFastOpenListenOverflow";
    pub const TCP_FAST_OPEN_PASSIVE: &str = "TcpExt.TCPFastOpenPassive";
    pub const TCP_FAST_OPEN_PASSIVE_ALT_KEY: &str = "TcpExt.TCPFastOpenPassiveAltKey";
    pub const TCP_FAST_OPEN_PASSIVE_FAIL: &str = "TcpExt.TCPFastOpenPassiveFail";
    pub const TCP_REQ_Q_FULL_DO_COOKIES: &str = "TcpExt.TCPReqQFullDoCookies";
    pub const TCP_REQ_Q_FULL_DROP: &str = "TcpExt.TCPReqQFullDrop";
    pub const TCP_SYN_RETRANS: &str = "TcpExt.TCPSynRetrans";
    pub const TCP_TIMEOUTS: &str = "TcpExt.TCPTimeouts";
}

/// Sysctls under /proc/sys.
pub mod sysctl {
    pub const SOMAXCONN: &str = "net.core.somaxconn";
    pub const IP_LOCAL_PORT_RANGE: &str = "net.ipv4.ip_local_port_range";
    pub const TCP_ABORT_ON_OVERFLOW: &str = "net.ipv4.tcp_abort_on_overflow";
    pub const TCP_ECN: &str = "net.ipv4.tcp_ecn";
    pub const TCP_FASTOPEN: &str = "net.ipv4.tcp_fastopen";
    pub const TCP_FASTOPEN_BLACKHOLE_TIMEOUT_SEC: &str =
        "net.ipv4.tcp_fastopen_blackhole_timeout_sec";
    pub const TCP_MAX_SYN_BACKLOG: &str = "net.ipv4.tcp_max_syn_backlog";
    pub const TCP_SACK: &str = "net.ipv4.tcp_sack";
    pub const TCP_SYN_LINEAR_TIMEOUTS: &str = "net.ipv4.tcp_syn_linear_timeouts";
    pub const TCP_SYN_RETRIES: &str = "net.ipv4.tcp_syn_retries";
    pub const TCP_SYNACK_RETRIES: &str = "net.ipv4.tcp_synack_retries";
    pub const TCP_SYNCOOKIES: &str = "net.ipv4.tcp_syncookies";
    pub const TCP_TIMESTAMPS: &str = "net.ipv4.tcp_timestamps";
    pub const TCP_TW_REUSE: &str = "net.ipv4.tcp_tw_reuse";
    pub const TCP_WINDOW_SCALING: &str = "net.ipv4.tcp_window_scaling";
}
