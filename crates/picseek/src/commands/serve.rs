//! `picseek serve`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use super::Context;
use crate::cli::ServeArgs;

/// Serves the search page until Ctrl-C, saying where to open it.
pub fn serve(ctx: &Context, args: ServeArgs) -> anyhow::Result<()> {
    let opts = args.options(&ctx.data);
    let announce = |addr: SocketAddr| {
        let urls: Vec<String> = addresses_to_open(addr).iter().map(|a| format!("http://{a}/")).collect();
        eprintln!("picseek: serving {} on {} (Ctrl-C stops)", opts.index_dir.display(), urls.join(" and "));
    };
    tokio::runtime::Runtime::new()?.block_on(picseek_serve::serve(&opts, announce))?;
    Ok(())
}

/// Where a browser reaches a server listening on `addr`: the address itself, or for
/// every interface (0.0.0.0, ::) this machine's loopback and its address on the LAN.
fn addresses_to_open(addr: SocketAddr) -> Vec<SocketAddr> {
    if !addr.ip().is_unspecified() {
        return vec![addr];
    }
    let mut addresses = vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())];
    // The interface a packet to the outside would leave by (a UDP "connection" sends nothing).
    let lan = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|socket| socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).map(|()| socket))
        .and_then(|socket| socket.local_addr());
    if let Some(lan) = lan.ok().filter(|a| !a.ip().is_loopback() && !a.ip().is_unspecified()) {
        addresses.push(SocketAddr::new(lan.ip(), addr.port()));
    }
    addresses
}
