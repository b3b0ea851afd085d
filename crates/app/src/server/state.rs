//! The server's state: the graph it currently shows (preset, model or traced run, with the
//! captured values when there are some), the model file it may trace, and the one trace job
//! that may run at a time.
//!
//! Handlers only read the current graph (cheap `Arc` clones under a short read lock); a finished
//! trace swaps it whole, so a reader never sees half of a run.

use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;
use tt_core::compare::{self, NoValues, Report, Side, Tolerance, ValueSource};
use tt_core::trace::GraphDoc;

use crate::cmd::compare::Input;

use crate::engine::{Model, Trace, Values};

/// Limits applied to requests.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body accepted, bytes.
    pub max_body: usize,
    /// Largest trace (captured values plus working memory) accepted, bytes.
    pub memory_budget: u64,
    /// Threads a trace computes with.
    pub threads: usize,
    /// Answer only requests whose `Host` is a loopback name (set when listening on loopback).
    pub local_only: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body: 64 * 1024,
            memory_budget: 8 << 30,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            local_only: true,
        }
    }
}

/// The graph being shown, with its values when it was traced.
#[derive(Clone)]
pub struct Current {
    pub doc: Arc<GraphDoc>,
    pub values: Option<Arc<Values>>,
}

impl Current {
    pub fn untraced(doc: GraphDoc) -> Current {
        Current {
            doc: Arc::new(doc),
            values: None,
        }
    }

    pub fn traced(trace: Trace) -> Current {
        Current {
            doc: Arc::new(trace.doc),
            values: Some(Arc::new(trace.values)),
        }
    }

    /// True when the graph uses the fused flash-attention node.
    pub fn flash_attn(&self) -> bool {
        self.doc.run.as_ref().map_or_else(
            || self.doc.tensors.iter().any(|t| t.op == "FLASH_ATTN_EXT"),
            |r| r.flash_attn,
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Idle,
    Running,
    Done,
    Failed,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct JobProgress {
    pub done: u64,
    pub total: u64,
    pub stage: String,
}

/// The body of `GET /api/trace/status`.
#[derive(Clone, Debug, Serialize)]
pub struct JobStatus {
    pub state: JobState,
    /// Number of the last job started (0: none yet).
    pub job: u64,
    pub progress: JobProgress,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub current: RwLock<Current>,
    pub model: Option<Arc<Model>>,
    pub job: Mutex<JobStatus>,
    pub limits: Limits,
    pub compare: Option<CompareWith>,
}

/// The run the shown graph is compared with (`serve --compare B`), and the last report, kept
/// for as long as the shown graph is the same one.
pub struct CompareWith {
    /// How the page names B (the file given on the command line).
    pub label: String,
    pub input: Input,
    pub tolerance: Tolerance,
    last: Mutex<Option<(Arc<GraphDoc>, Arc<Report>)>>,
}

impl CompareWith {
    pub fn new(label: String, input: Input, tolerance: Tolerance) -> CompareWith {
        CompareWith {
            label,
            input,
            tolerance,
            last: Mutex::new(None),
        }
    }

    /// True when `current` has values to compare: captured ones, or a log's printed ones.
    pub fn comparable(current: &Current) -> bool {
        current.values.is_some()
            || current
                .doc
                .tensors
                .iter()
                .any(|t| t.printed.is_some() || t.stats.is_some())
    }

    /// The comparison of `current` (side A, the reference) with B; computed once per graph.
    pub fn report(&self, current: &Current) -> Result<Arc<Report>, compare::CompareError> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((doc, report)) = last.as_ref() {
            if Arc::ptr_eq(doc, &current.doc) {
                return Ok(report.clone());
            }
        }
        let values: &dyn ValueSource = match &current.values {
            Some(v) => v.as_ref(),
            None => &NoValues,
        };
        let report = Arc::new(compare::compare(
            Side {
                doc: &current.doc,
                values,
            },
            Side {
                doc: self.input.doc(),
                values: self.input.values(),
            },
            self.tolerance,
        )?);
        *last = Some((current.doc.clone(), report.clone()));
        Ok(report)
    }
}

impl AppState {
    /// State showing `current`, able to trace `model` when one is given.
    pub fn new(current: Current, model: Option<Arc<Model>>, limits: Limits) -> AppState {
        AppState::comparing(current, model, limits, None)
    }

    /// State as [`AppState::new`] that also compares whatever it shows with a second run
    /// (`GET /api/diff`).
    pub fn comparing(
        current: Current,
        model: Option<Arc<Model>>,
        limits: Limits,
        compare: Option<CompareWith>,
    ) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                current: RwLock::new(current),
                model,
                job: Mutex::new(JobStatus {
                    state: JobState::Idle,
                    job: 0,
                    progress: JobProgress::default(),
                    error: None,
                }),
                limits,
                compare,
            }),
        }
    }

    pub fn compare(&self) -> Option<&CompareWith> {
        self.inner.compare.as_ref()
    }

    pub fn current(&self) -> Current {
        // A poisoned lock only means a panic elsewhere; the value itself is always whole.
        self.inner
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_current(&self, c: Current) {
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = c;
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    pub fn model(&self) -> Option<&Arc<Model>> {
        self.inner.model.as_ref()
    }

    pub fn job(&self) -> std::sync::MutexGuard<'_, JobStatus> {
        self.inner.job.lock().unwrap_or_else(|e| e.into_inner())
    }
}
