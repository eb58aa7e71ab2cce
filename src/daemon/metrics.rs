//! Prometheus metrics (prometheus-client, the Prometheus project's own Rust
//! client) and the /healthz + /metrics endpoint (axum) on a local address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::deliver::sender::PassReport;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::deliver::OutboxDepth;
use crate::report::output::outcome_label;
use crate::store::runs::RuleOutcome;

type Labels = Vec<(String, String)>;

fn job(name: &str) -> Labels {
    vec![("job".to_string(), name.to_string())]
}

pub struct Metrics {
    registry: Registry,
    runs: Family<Labels, Counter>,
    rules: Family<Labels, Counter>,
    findings: Family<Labels, Gauge>,
    new_findings: Family<Labels, Counter>,
    run_seconds: Family<Labels, Histogram>,
    last_success: Family<Labels, Gauge>,
    outbox: Family<Labels, Gauge>,
    sent: Counter,
    send_failures: Counter,
    messages_failed: Counter,
    setup_failures: Counter,
    setup_failing: Gauge,
    /// False while the database cannot be reached.
    pub database_up: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("accessaudit");
        let runs = Family::<Labels, Counter>::default();
        registry.register("runs", "Job runs by job and status", runs.clone());
        let rules = Family::<Labels, Counter>::default();
        registry.register(
            "rule_outcomes",
            "Rules of job runs by job and outcome (evaluated, skipped, not_applicable, failed): \
             a run with rules not evaluated did not check everything",
            rules.clone(),
        );
        let findings = Family::<Labels, Gauge>::default();
        registry.register(
            "findings",
            "Findings of the latest run of each job",
            findings.clone(),
        );
        let new_findings = Family::<Labels, Counter>::default();
        registry.register(
            "alerted_findings",
            "Findings sent by alert jobs (each once)",
            new_findings.clone(),
        );
        let run_seconds = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0])
        });
        registry.register(
            "run_duration_seconds",
            "Duration of job runs",
            run_seconds.clone(),
        );
        let last_success = Family::<Labels, Gauge>::default();
        registry.register(
            "last_success_timestamp_seconds",
            "When each job last ran to the end (Unix time)",
            last_success.clone(),
        );
        let outbox = Family::<Labels, Gauge>::default();
        registry.register(
            "outbox_messages",
            "Outbox messages by status",
            outbox.clone(),
        );
        let sent = Counter::default();
        registry.register(
            "messages_sent",
            "Messages accepted by the transport",
            sent.clone(),
        );
        let send_failures = Counter::default();
        registry.register(
            "send_failures",
            "Failed delivery attempts (retried or not)",
            send_failures.clone(),
        );
        let messages_failed = Counter::default();
        registry.register(
            "messages_failed",
            "Messages given up on after the retry period",
            messages_failed.clone(),
        );
        let setup_failures = Counter::default();
        registry.register(
            "send_setup_failures",
            "Delivery attempts the mail server refused for the set-up (authentication, TLS), retried",
            setup_failures.clone(),
        );
        let setup_failing = Gauge::default();
        registry.register(
            "mail_setup_failing",
            "1 while the mail server refuses the set-up (the last attempt), else 0: alert on it",
            setup_failing.clone(),
        );
        Metrics {
            registry,
            rules,
            setup_failures,
            setup_failing,
            runs,
            findings,
            new_findings,
            run_seconds,
            last_success,
            outbox,
            sent,
            send_failures,
            messages_failed,
            database_up: AtomicBool::new(true),
        }
    }

    pub fn run_finished(&self, name: &str, ok: bool, seconds: f64, findings: u64, alerted: u64) {
        let mut labels = job(name);
        labels.push((
            "status".to_string(),
            if ok { "succeeded" } else { "failed" }.to_string(),
        ));
        self.runs.get_or_create(&labels).inc();
        if ok {
            self.run_seconds.get_or_create(&job(name)).observe(seconds);
            self.findings.get_or_create(&job(name)).set(findings as i64);
            self.new_findings.get_or_create(&job(name)).inc_by(alerted);
            self.last_success
                .get_or_create(&job(name))
                .set(chrono::Utc::now().timestamp());
        }
    }

    /// Counts the outcome of each rule of a job's run.
    pub fn rule_outcomes(&self, name: &str, outcomes: &[RuleOutcome]) {
        for o in outcomes {
            let mut labels = job(name);
            labels.push(("status".to_string(), outcome_label(o.status).to_string()));
            self.rules.get_or_create(&labels).inc();
        }
    }

    pub fn deliveries(&self, pass: &PassReport) {
        self.sent.inc_by(pass.sent);
        self.send_failures.inc_by(pass.retried + pass.failed);
        self.messages_failed.inc_by(pass.failed);
        self.setup_failures.inc_by(pass.setup_failures);
        if let Some(failing) = pass.setup_failing {
            self.setup_failing.set(i64::from(failing));
        }
    }

    pub fn outbox_depth(&self, d: OutboxDepth) {
        for (status, n) in [
            ("queued", d.queued),
            ("sending", d.sending),
            ("sent", d.sent),
            ("failed", d.failed),
        ] {
            self.outbox
                .get_or_create(&vec![("status".to_string(), status.to_string())])
                .set(n);
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Serves /healthz and /metrics until the process ends.
/// Binds the health and metrics address: the daemon refuses to start when
/// it cannot (a monitoring system would otherwise watch nothing).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("health and metrics on http://{addr}/healthz and /metrics");
    Ok(listener)
}

pub async fn serve_http(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .with_state(metrics);
    axum::serve(listener, app).await
}

async fn healthz(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    if m.database_up.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n")
    }
}

async fn metrics_text(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(),
    )
}
