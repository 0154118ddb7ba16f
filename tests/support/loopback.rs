//! Running an `axum` app on a free 127.0.0.1 port in a thread of its own, stopped (and
//! joined) when dropped.

use std::net::SocketAddr;

pub struct LoopbackServer {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LoopbackServer {
    /// Serves `app` with `workers` runtime threads.
    pub fn start(app: axum::Router, workers: usize) -> Self {
        Self::start_on("127.0.0.1", app, workers)
    }

    /// Serves `app` on a free port of `ip` (any of 127.0.0.0/8: another host to a client).
    pub fn start_on(ip: &str, app: axum::Router, workers: usize) -> Self {
        let listener = std::net::TcpListener::bind((ip, 0)).expect("bind a loopback port");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("test server serves");
            });
        });
        Self { addr, shutdown: Some(shutdown), thread: Some(thread) }
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
