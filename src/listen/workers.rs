//! The trackers' acceptor and the worker threads it hands connections to.

use std::net::SocketAddr;
use std::sync::Arc;

use prometheus::IntGauge;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::serve::{serve, Connections, Handed, OpenConnection};
use super::{accept, public_settings};
use crate::admin::Readiness;
use crate::state::AppState;

/// A thread serving the trackers' connections the acceptor hands it.
pub(super) struct Worker {
    handoff: mpsc::Sender<Handed>,
    /// Its open connections, counted from the moment one is handed over (and exported).
    open: IntGauge,
}

/// Connections a worker may have waiting before the acceptor waits in turn, leaving the
/// rest in the kernel's backlog.
pub(super) const HANDOFF_QUEUE: usize = 128;

impl Worker {
    /// Starts worker `index` on its own thread; it serves until `stopped` fires, then
    /// drains. The task returned ends once the thread has stopped.
    pub(super) fn start(
        index: usize,
        state: Arc<AppState>,
        stopped: watch::Receiver<bool>,
    ) -> std::io::Result<(Worker, JoinHandle<()>)> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (handoff, queue) = mpsc::channel(HANDOFF_QUEUE);
        let (done, finished) = oneshot::channel::<()>();
        let open = state
            .metrics
            .worker_connections
            .with_label_values(&[&index.to_string()]);
        std::thread::Builder::new()
            .name(format!("scrubproxy-worker-{index}"))
            .spawn(move || {
                let settings = public_settings(state.clone());
                runtime.block_on(serve(
                    Connections::Handed(queue, stopped),
                    settings,
                    move |peer, req| crate::proxy::handle(state.clone(), index, peer, req),
                ));
                // What the drain left behind goes with the runtime, before `shutdown` returns.
                drop(runtime);
                let _ = done.send(());
            })?;
        let worker = Worker { handoff, open };
        Ok((
            worker,
            tokio::spawn(async move {
                if finished.await.is_err() {
                    tracing::error!(worker = index, "a worker thread stopped unexpectedly");
                }
            }),
        ))
    }
}

/// The trackers' accept loop: each connection goes to the worker with the fewest open.
/// Dropping `workers` at the end closes their queues, which ends their drains.
pub(super) async fn hand_out(
    listener: TcpListener,
    workers: Vec<Worker>,
    ready: Arc<Readiness>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            _ = stopped.changed() => break,
            accepted = accept(&listener) => accepted,
        };
        let Ok(stream) = stream.into_std() else {
            continue;
        };
        if !hand(&workers, stream, peer).await {
            tracing::error!("every worker thread has stopped: no longer accepting");
            ready.set_ready(false);
            return;
        }
    }
    // The kernel completes connections before they are accepted, and their trackers may
    // have sent a request already (a beacon at page unload is never retried): those
    // waiting at the stop are handed out too, and served in the drain. At most a full
    // backlog's worth: clients still connecting must not keep the acceptor going.
    let Ok(listener) = listener.into_std() else {
        return;
    };
    for _ in 0..LISTEN_BACKLOG {
        let Ok((stream, peer)) = listener.accept() else {
            return;
        };
        if stream.set_nonblocking(true).is_err() {
            continue;
        }
        let _ = stream.set_nodelay(true);
        if !hand(&workers, stream, peer).await {
            return;
        }
    }
}

/// The kernel's queue of completed connections for a listener tokio binds (its default).
const LISTEN_BACKLOG: usize = 1024;

/// Hands a connection to the worker with the fewest open; false when no worker is left.
async fn hand(workers: &[Worker], stream: std::net::TcpStream, peer: SocketAddr) -> bool {
    let Some(worker) = least_busy(workers) else {
        return false;
    };
    let open = OpenConnection::new(&worker.open);
    // Only a worker that stopped between the two lines refuses; the connection closes
    // unanswered and the tracker retries.
    let _ = worker.handoff.send(Handed { stream, peer, open }).await;
    true
}

/// The running worker with the fewest open connections. A worker whose thread has ended
/// has a closed queue and counts none, so it must not be picked.
fn least_busy(workers: &[Worker]) -> Option<&Worker> {
    workers
        .iter()
        .filter(|w| !w.handoff.is_closed())
        .min_by_key(|w| w.open.get())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpStream;

    fn worker(open: i64, running: bool) -> (Worker, Option<mpsc::Receiver<Handed>>) {
        let (handoff, queue) = mpsc::channel(1);
        let count = IntGauge::new("open", "open connections").unwrap();
        count.set(open);
        let worker = Worker {
            handoff,
            open: count,
        };
        (worker, running.then_some(queue))
    }

    #[test]
    fn a_new_connection_goes_to_the_least_busy_running_worker() {
        let (busy, _busy_queue) = worker(5, true);
        let (idle, _idle_queue) = worker(2, true);
        let (stopped, _) = worker(0, false);
        let workers = [busy, stopped, idle];
        let chosen = least_busy(&workers).expect("a running worker");
        assert_eq!(chosen.open.get(), 2);
    }

    /// Connections the kernel had completed but the acceptor had not taken when the stop
    /// came are handed to a worker (which serves them in the drain), not reset with the
    /// listener.
    #[tokio::test]
    async fn connections_waiting_in_the_backlog_at_the_stop_are_handed_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut trackers = Vec::new();
        for _ in 0..5 {
            trackers.push(
                TcpStream::connect(listener.local_addr().unwrap())
                    .await
                    .unwrap(),
            );
        }
        let (worker, queue) = worker(0, true);
        let mut queue = queue.unwrap();
        let (stop, stopped) = watch::channel(false);
        stop.send(true).unwrap();
        let acceptor = tokio::spawn(hand_out(listener, vec![worker], Arc::default(), stopped));
        let mut handed = 0;
        while let Some(connection) = queue.recv().await {
            assert!(TcpStream::from_std(connection.stream).is_ok());
            handed += 1;
        }
        assert_eq!(handed, trackers.len());
        acceptor.await.unwrap();
    }

    #[test]
    fn no_worker_is_chosen_when_every_thread_has_stopped() {
        let (a, _) = worker(0, false);
        let (b, _) = worker(3, false);
        assert!(least_busy(&[a, b]).is_none());
    }
}
