//! A loopback TCP proxy in front of the L1 that a scenario can cut, and that can hold every chunk
//! it forwards for a while (the latency of a distant L1 node). While cut it forwards
//! nothing in either direction, on connections old or new, and refuses nothing: a partition that
//! drops packets rather than one that answers "connection refused", so a client learns of the
//! outage only from its own timeouts. Connections held during the cut are closed when it ends, as
//! a partition that outlived them would leave them.

use std::{net::SocketAddr, time::Duration};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::watch,
};

/// The proxy; dropping it stops it.
pub struct L1Proxy {
    addr: SocketAddr,
    cut: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl L1Proxy {
    /// Listens on a free loopback port and forwards to `upstream`, each chunk `latency` late in
    /// each direction.
    pub async fn start(upstream: SocketAddr, latency: Duration) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (cut, cut_rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream, latency, cut_rx.clone()));
            }
        });
        Ok(Self { addr, cut, task })
    }

    /// Its URL, for the services' `L1_RPC_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cuts the L1 off (or restores it, with `false`).
    pub fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

impl Drop for L1Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to`, each chunk `latency` after it was read.
async fn forward(from: &mut OwnedReadHalf, to: &mut OwnedWriteHalf, latency: Duration) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

async fn relay(client: TcpStream, upstream: SocketAddr, latency: Duration, mut cut: watch::Receiver<bool>) {
    if *cut.borrow_and_update() {
        // Accepted, never answered; closed when the cut ends.
        let _ = cut.wait_for(|cut| !*cut).await;
        return;
    }
    let Ok(upstream) = TcpStream::connect(upstream).await else { return };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_upstream, mut to_upstream) = upstream.into_split();
    let frozen = tokio::select! {
        () = forward(&mut from_client, &mut to_upstream, latency) => false,
        () = forward(&mut from_upstream, &mut to_client, latency) => false,
        _ = cut.wait_for(|cut| *cut) => true,
    };
    if frozen {
        // Both directions are dropped: nothing moves, the sockets stay open until the cut ends.
        let _ = cut.wait_for(|cut| !*cut).await;
    }
}
