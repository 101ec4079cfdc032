//! A TCP proxy in front of the L1 that a test can cut and restore, to show how the node lives
//! through an L1 outage.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use tokio::{net::TcpListener, task::JoinHandle};

pub(crate) struct Proxy {
    pub(crate) addr: SocketAddr,
    upstream: SocketAddr,
    task: Mutex<Option<JoinHandle<()>>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// A proxy on a free loopback port forwarding to `upstream`.
    pub(crate) async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let proxy = Self { addr, upstream, task: Mutex::new(None), connections: Arc::default() };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let upstream = self.upstream;
        let connections = self.connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let handle = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                connections.lock().expect("lock").push(handle);
            }
        });
        *self.task.lock().expect("lock") = Some(task);
    }

    /// Refuses new connections and cuts the open ones.
    pub(crate) fn cut(&self) {
        if let Some(task) = self.task.lock().expect("lock").take() {
            task.abort();
        }
        for connection in self.connections.lock().expect("lock").drain(..) {
            connection.abort();
        }
    }

    /// Listens again on the same port.
    pub(crate) async fn restore(&self) {
        let mut listener = None;
        for _ in 0..100 {
            if let Ok(l) = TcpListener::bind(self.addr).await {
                listener = Some(l);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.serve(listener.expect("the port is free again"));
    }
}
