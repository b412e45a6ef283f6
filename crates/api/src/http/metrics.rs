//! Prometheus metrics: request counts and latency histograms per route template, method and
//! status, plus the process's CPU, memory, threads and file descriptors.
//!
//! Each server has its own registry, so two servers in one process (tests start many) never
//! count each other's requests: requests are recorded into it through the facade's
//! thread-local recorder rather than a process-global one.

use std::sync::{Arc, Weak};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};

const REQUEST_DURATION: &str = "http_request_duration_seconds";
const REQUESTS_TOTAL: &str = "http_requests_total";
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One server's metrics registry; renders it in the Prometheus text format.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    process: Arc<metrics_process::Collector>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A fresh registry, kept tidy by an upkeep thread that ends once the registry is dropped.
    pub fn new() -> Result<Self, String> {
        let recorder = Arc::new(
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.to_owned()), LATENCY_BUCKETS)
                .map_err(|error| error.to_string())?
                .build_recorder(),
        );
        let process = Arc::new(metrics_process::Collector::default());
        metrics::with_local_recorder(recorder.as_ref(), || {
            metrics::describe_counter!(
                REQUESTS_TOTAL,
                "HTTP requests served, by route, method and status"
            );
            metrics::describe_histogram!(
                REQUEST_DURATION,
                metrics::Unit::Seconds,
                "HTTP request latency, by route, method and status"
            );
            process.describe();
        });
        // Histograms keep raw samples until upkeep folds them in; without it memory grows with
        // every request between scrapes (or forever, if nobody scrapes).
        let upkeep: Weak<PrometheusRecorder> = Arc::downgrade(&recorder);
        std::thread::Builder::new()
            .name("metrics-upkeep".to_owned())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_INTERVAL);
                    let Some(recorder) = upkeep.upgrade() else {
                        break;
                    };
                    recorder.handle().run_upkeep();
                }
            })
            .map_err(|error| format!("cannot start the metrics upkeep thread: {error}"))?;
        Ok(Self { recorder, process })
    }

    /// The current metrics as Prometheus text.
    pub fn render(&self) -> String {
        metrics::with_local_recorder(self.recorder.as_ref(), || self.process.collect());
        self.recorder.handle().render()
    }

    /// Records one finished request.
    fn record(&self, labels: &[(&'static str, String); 3], elapsed: f64) {
        metrics::with_local_recorder(self.recorder.as_ref(), || {
            metrics::counter!(REQUESTS_TOTAL, labels).increment(1);
            metrics::histogram!(REQUEST_DURATION, labels).record(elapsed);
        });
    }
}

/// One request's entry in the route/method/status counters and latency histogram.
#[derive(Debug)]
pub struct RequestMetric {
    started: Instant,
    route: String,
    method: String,
}

impl RequestMetric {
    /// Starts timing a request (after routing, so the route template is known).
    pub fn start(request: &Request) -> Self {
        Self {
            started: Instant::now(),
            route: request
                .extensions()
                .get::<MatchedPath>()
                .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned()),
            method: request.method().as_str().to_owned(),
        }
    }

    /// Records the request, with the status it ended with, in `metrics`.
    pub fn finish(self, metrics: &Metrics, status: axum::http::StatusCode) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let labels = [
            ("route", self.route),
            ("method", self.method),
            ("status", status.as_u16().to_string()),
        ];
        metrics.record(&labels, elapsed);
    }
}
