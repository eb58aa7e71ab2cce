//! The findings writer: findings stream from a rule's scan to a task with
//! its own connection, in batches.

use tokio::sync::mpsc;

use super::error::{EngineError, Result};
use crate::model::{Finding, Severity};
use crate::store::runs::FirstSeen;
use crate::store::{Store, StoreError};

/// Buffers findings and hands them, in batches, to a writer task with its
/// own connection: the rule's scan goes on while the previous batch is being
/// written (the two run on different cores), and at most a few batches are
/// in memory whatever the number of findings.
pub struct Sink {
    buffer: Vec<Finding>,
    pub count: u64,
    pub max_severity: Option<Severity>,
    batches: Option<mpsc::Sender<Vec<Finding>>>,
    writer: Option<tokio::task::JoinHandle<Result<(), StoreError>>>,
}

const SINK_BATCH: usize = 500;
/// Batches queued for the writer before `push` waits for it.
const SINK_QUEUE: usize = 2;

impl Sink {
    pub(super) fn start(store: &Store, run_id: i64, first_seen: FirstSeen) -> Sink {
        let (batches, mut queue) = mpsc::channel::<Vec<Finding>>(SINK_QUEUE);
        let store = store.clone();
        let writer = tokio::spawn(async move {
            while let Some(batch) = queue.recv().await {
                store.record_findings(run_id, first_seen, &batch).await?;
            }
            Ok(())
        });
        Sink {
            buffer: Vec::with_capacity(SINK_BATCH),
            count: 0,
            max_severity: None,
            batches: Some(batches),
            writer: Some(writer),
        }
    }

    pub async fn push(&mut self, finding: Finding) -> Result<()> {
        self.max_severity = self.max_severity.max(Some(finding.severity));
        self.count += 1;
        self.buffer.push(finding);
        if self.buffer.len() >= SINK_BATCH {
            self.send().await?;
        }
        Ok(())
    }

    async fn send(&mut self) -> Result<()> {
        let batch = std::mem::replace(&mut self.buffer, Vec::with_capacity(SINK_BATCH));
        let sent = match &self.batches {
            Some(batches) => batches.send(batch).await.is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            // The writer stopped: its error says why.
            self.join().await
        }
    }

    /// Writes what is left and waits until every finding is stored.
    pub(super) async fn finish(&mut self) -> Result<()> {
        if !self.buffer.is_empty() {
            self.send().await?;
        }
        self.join().await
    }

    /// Stops the writer without writing what is buffered (the rule failed:
    /// its findings are about to be deleted) and waits for it.
    pub(super) async fn abandon(&mut self) {
        self.buffer.clear();
        let _ = self.join().await;
    }

    async fn join(&mut self) -> Result<()> {
        self.batches = None; // the writer ends once the queue is drained
        match self.writer.take() {
            Some(writer) => match writer.await {
                Ok(written) => Ok(written?),
                Err(join) => Err(EngineError::Rule {
                    rule: String::new(),
                    message: format!("the findings writer stopped: {join}"),
                }),
            },
            None => Ok(()),
        }
    }
}
