//! Drop-in equivalence: one body of code written against `std::net` and
//! `std::os::unix::net` (`tests/net_dropin/body.rs`) is compiled twice,
//! once with std's `use` lines and once with `green::net`'s, and must pass
//! the same assertions both times.

mod with_std {
    use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
    use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
    include!("net_dropin/body.rs");
}

mod with_green {
    use green::net::unix::{UnixDatagram, UnixListener, UnixStream};
    use green::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
    include!("net_dropin/body.rs");
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod std_net {
            $( #[test] fn $name() { super::with_std::$name() } )*
        }
        mod green_net {
            // Safety net: a green wait of the test's main context that
            // would hang fails the test instead.
            $( #[test] fn $name() {
                green::with_timeout(std::time::Duration::from_secs(120), super::with_green::$name)
                    .expect("the test did not finish within its safety deadline")
            } )*
        }
    };
}

both!(
    echo_round_trip,
    read_and_write_through_shared_refs,
    read_timeout_gives_would_block,
    nonblocking_read_gives_would_block,
    half_close_then_reply,
    connect_to_closed_port_is_refused,
    write_to_closed_peer_fails,
    peek_does_not_consume,
    try_clone_shares_the_connection,
    socket_options_round_trip,
    incoming_yields_connections,
    udp_send_to_and_recv_from,
    udp_connected_send_recv_and_timeout,
    unix_stream_pair_and_listener,
);
