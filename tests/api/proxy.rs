//! A TCP proxy on loopback that a test can cut, to take a database out of
//! the service's reach and give it back.

use std::net::SocketAddr;

use rocket::tokio::io::copy_bidirectional;
use rocket::tokio::net::{TcpListener, TcpStream};
use rocket::tokio::sync::watch;
use rocket::tokio::task::JoinHandle;

pub struct Proxy {
    pub addr: SocketAddr,
    cut: watch::Sender<bool>,
    accepting: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let (cut, watching) = watch::channel(false);
        let accepting = rocket::tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if *watching.borrow() {
                    continue; // dropped: the connection is refused
                }
                rocket::tokio::spawn(relay(inbound, target, watching.clone()));
            }
        });
        Proxy { addr, cut, accepting }
    }

    /// Closes every relayed connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accepting.abort();
    }
}

async fn relay(mut inbound: TcpStream, target: SocketAddr, mut cut: watch::Receiver<bool>) {
    let Ok(mut outbound) = TcpStream::connect(target).await else {
        return;
    };
    rocket::tokio::select! {
        _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
        _ = cut.wait_for(|cut| *cut) => {}
    }
}
