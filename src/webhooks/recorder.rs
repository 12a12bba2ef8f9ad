//! What became of deliveries, written in groups: the outcomes that arrive
//! within a few milliseconds of each other (those of one claim, mostly) go
//! together into one transaction.

use std::time::Duration;

use rocket::tokio::{self, sync::mpsc, sync::oneshot, time};

use crate::store::{DeliveryOutcome, Store, StoreError};

/// The most outcomes one group takes.
const MAX_GROUP: usize = 256;
/// How long a group waits for more outcomes after its first. Deliveries of
/// one claim finish a moment apart; written one by one, each would cost a
/// transaction (four statements), which at a trickle of deliveries took a
/// tenth of a busy core from polls (see BENCHMARKS.md, Webhooks).
const GATHER: Duration = Duration::from_millis(5);

type Reply = oneshot::Sender<Result<(), StoreError>>;

/// The queue of the recording task. Cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::UnboundedSender<(DeliveryOutcome, Reply)>,
}

impl Recorder {
    /// Starts the recording task; it ends when the last clone is dropped.
    pub fn start(store: Store) -> Self {
        let (queue, waiting) = mpsc::unbounded_channel();
        tokio::spawn(record_in_groups(store, waiting));
        Recorder { queue }
    }

    /// Writes `outcome`, with whatever else is waiting.
    pub async fn record(&self, outcome: DeliveryOutcome) -> Result<(), StoreError> {
        let (reply, recorded) = oneshot::channel();
        let stopped = || StoreError::Stopped("webhook recorder");
        self.queue.send((outcome, reply)).map_err(|_| stopped())?;
        recorded.await.map_err(|_| stopped())?
    }
}

async fn record_in_groups(store: Store, mut waiting: mpsc::UnboundedReceiver<(DeliveryOutcome, Reply)>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while waiting.recv_many(&mut group, MAX_GROUP).await > 0 {
        if group.len() < MAX_GROUP {
            time::sleep(GATHER).await;
            while group.len() < MAX_GROUP {
                match waiting.try_recv() {
                    Ok(more) => group.push(more),
                    Err(_) => break,
                }
            }
        }
        let (outcomes, replies): (Vec<DeliveryOutcome>, Vec<Reply>) = group.drain(..).unzip();
        let written = match store.record_deliveries(&outcomes).await {
            Ok(()) => vec![Ok(()); outcomes.len()],
            // One by one, so that only an outcome that fails says so.
            Err(_) => {
                let mut alone = Vec::with_capacity(outcomes.len());
                for outcome in &outcomes {
                    alone.push(store.record_deliveries(std::slice::from_ref(outcome)).await);
                }
                alone
            }
        };
        for (reply, written) in replies.into_iter().zip(written) {
            // A delivery task that went away no longer needs its answer.
            let _ = reply.send(written);
        }
    }
}
