//! The handlers of every `/api/` endpoint (the contract is docs/API.md, mirrored by
//! web/src/api.ts). Each returns JSON or an [`ApiError`]; none touches the filesystem: source
//! files come from the embedded table, model files were opened at start from the command line.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tt_core::trace::TensorDoc;

use super::error::ApiError;
use super::state::{AppState, CompareWith, Current, JobProgress, JobState, JobStatus};
use crate::engine::{self, TraceOptions};
use crate::llama_cpp::{self, LlamaCppRef};
use crate::{sources, summary};

#[derive(Deserialize)]
pub struct GraphQuery {
    preset: Option<String>,
}

/// GET /api/graph[?preset=<id>]
pub async fn graph(
    State(s): State<AppState>,
    q: Result<Query<GraphQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let current = s.current().doc;
    // A large graph takes a moment to build and serialize: off the async threads.
    let body = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ApiError> {
        let doc = match q.preset {
            None => current,
            Some(id) => Arc::new(engine::preset_graph(&id).map_err(|e| {
                match e.downcast_ref::<engine::UnknownPreset>() {
                    Some(u) => ApiError::NotFound(u.to_string()),
                    None => ApiError::Internal(e),
                }
            })?),
        };
        serde_json::to_vec(&*doc).map_err(|e| ApiError::Internal(e.into()))
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))??;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// GET /api/presets
pub async fn presets() -> Json<Vec<engine::PresetInfo>> {
    Json(engine::presets())
}

/// A malformed query string as a JSON 400 (axum's own answer is plain text).
fn bad_query(r: QueryRejection) -> ApiError {
    ApiError::BadRequest(format!("bad query string: {}", r.body_text()))
}

/// The `{id}` path segment, or a JSON 400 (not UTF-8, …).
fn path_id(id: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    id.map(|Path(id)| id)
        .map_err(|r| ApiError::BadRequest(format!("bad path: {}", r.body_text())))
}

/// The tensor `id` of the current graph.
fn tensor(c: &Current, id: &str) -> Result<TensorDoc, ApiError> {
    let n: u64 = id.parse().map_err(|_| {
        ApiError::BadRequest(format!(
            "tensor id must be a non-negative whole number, got {id:?}"
        ))
    })?;
    let found = usize::try_from(n).ok().and_then(|i| c.doc.tensors.get(i));
    found.cloned().ok_or_else(|| {
        ApiError::NotFound(format!(
            "no tensor {n}: this graph has {} tensors",
            c.doc.tensors.len()
        ))
    })
}

/// The stored values of a tensor, with their shape.
fn values_of(c: &Current, t: &TensorDoc) -> Result<([i64; 4], Vec<f32>), ApiError> {
    let values = c.values.as_ref().ok_or_else(|| {
        ApiError::NotFound(
            "this graph has not been traced, so it has no values: run a prompt first".into(),
        )
    })?;
    let r = t
        .values
        .as_ref()
        .ok_or_else(|| ApiError::NotFound(format!("no values were captured for {:?}", t.name)))?;
    let data = values.get(&r.key).map_err(ApiError::Internal)?;
    Ok((r.ne, data))
}

/// GET /api/tensor/{id}
pub async fn tensor_values(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<summary::TensorSummary>, ApiError> {
    let c = s.current();
    let t = tensor(&c, &path_id(id)?)?;
    let summary = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let (stored_ne, data) = values_of(&c, &t)?;
        let mut sum = summary::summarize(t.id, &t.name, t.ne, stored_ne, &data);
        // The capture's statistics cover the whole tensor even when only part was kept.
        if let Some(st) = &t.stats {
            sum.stats = st.clone();
        }
        Ok(sum)
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))??;
    Ok(Json(summary))
}

/// GET /api/attention/{id}
pub async fn attention(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<summary::Attention>, ApiError> {
    let c = s.current();
    let t = tensor(&c, &path_id(id)?)?;
    if !(t.op == "SOFT_MAX" && t.name.starts_with("kq_soft_max")) {
        return Err(ApiError::NotFound(format!(
            "{:?} is a {} node: attention weights exist only for kq_soft_max-<layer> nodes, \
             which the graph has when flash attention is off",
            t.name, t.op
        )));
    }
    let run = c.doc.run.clone().ok_or_else(|| {
        ApiError::NotFound("this graph has not been traced: run a prompt first".into())
    })?;
    let layer = t.layer.unwrap_or(0);
    let hp = &c.doc.model.hparams;
    let (stored_ne, data) = values_of(&c, &t)?;
    let n_tokens = run.tokens.len();
    // The prompt is the only sequence, written from cell 0: it fills n_tokens cells.
    let n_kv_used = n_tokens;
    let heads = summary::attention(&data, stored_ne, n_tokens, n_kv_used)
        .map_err(|e| ApiError::Internal(e.into()))?;
    let n_head = heads.len();
    let hp_usize = |k: &str| hp.get(k).and_then(Value::as_u64).map(|v| v as usize);
    Ok(Json(summary::Attention {
        layer,
        n_head,
        n_head_kv: hp_usize("attention.head_count_kv")
            .or(hp_usize("attention.head_count"))
            .unwrap_or(n_head),
        n_tokens,
        n_kv_used,
        tokens: run.tokens.iter().map(|t| t.piece.clone()).collect(),
        heads,
    }))
}

#[derive(Serialize)]
pub struct OursCode {
    file: String,
    line: u32,
    text: String,
}

#[derive(Serialize)]
pub struct KernelCode {
    file: String,
    line: u32,
    fn_name: String,
    text: String,
}

#[derive(Serialize)]
pub struct Code {
    /// Where our code recorded the node (null when the graph came from elsewhere, e.g. a log).
    ours: Option<OursCode>,
    /// Our CPU kernel for the op (null for leaves and ops that compute nothing).
    kernel: Option<KernelCode>,
    /// Where llama.cpp does the same (null when the table has no fact for the node).
    llama_cpp: Option<LlamaCppRef>,
}

/// GET /api/code/{id}
pub async fn code(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Code>, ApiError> {
    let c = s.current();
    let t = tensor(&c, &path_id(id)?)?;
    let ours = t.location.as_ref().and_then(|l| {
        Some(OursCode {
            file: l.file.clone(),
            line: l.line,
            text: sources::get(&l.file)?,
        })
    });
    let kernel = engine::kernel_source(&t).and_then(|k| {
        Some(KernelCode {
            text: sources::get(&k.file)?,
            file: k.file,
            line: k.line,
            fn_name: k.fn_name,
        })
    });
    Ok(Json(Code {
        ours,
        kernel,
        llama_cpp: llama_cpp::lookup(&t.name, &t.op, c.flash_attn()),
    }))
}

#[derive(Deserialize)]
pub struct SourceQuery {
    file: Option<String>,
}

/// GET /api/source?file=<workspace-relative path>
pub async fn source(
    q: Result<Query<SourceQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let file = q
        .file
        .ok_or_else(|| ApiError::BadRequest("missing ?file=<path>".into()))?;
    let text = sources::get(&file).ok_or_else(|| {
        ApiError::NotFound(format!(
            "{file:?} is not one of the embedded source files (crates/**/*.rs)"
        ))
    })?;
    Ok(Json(json!({ "file": file, "text": text })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceBody {
    prompt: String,
    flash_attn: Option<bool>,
}

/// POST /api/trace
pub async fn start_trace(
    State(s): State<AppState>,
    body: Result<Json<TraceBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body.map_err(|r| match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(format!(
            "request body is larger than {} KiB",
            s.limits().max_body / 1024
        )),
        _ => ApiError::BadRequest(format!("bad request body: {}", r.body_text())),
    })?;
    let model = s.model().cloned().ok_or_else(|| {
        ApiError::BadRequest(
            "no model file was given: start the server with `tensor-trace serve MODEL.gguf` \
             to trace prompts"
                .into(),
        )
    })?;
    if body.prompt.is_empty() {
        return Err(ApiError::BadRequest("the prompt is empty".into()));
    }
    let opts = TraceOptions {
        prompt: body.prompt,
        // unsaid: as the graph on show (the server's --flash-attn, or the loaded trace's)
        flash_attn: body.flash_attn.unwrap_or_else(|| s.current().flash_attn()),
        threads: s.limits().threads,
        memory_budget: s.limits().memory_budget,
    };
    // Tokenizing and sizing are quick, but not free for a long prompt.
    let (m, o) = (model.clone(), opts.clone());
    let check = tokio::task::spawn_blocking(move || m.check(&o))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let plan = check.map_err(|e| ApiError::BadRequest(format!("{e:#}")))?;
    let budget = s.limits().memory_budget;
    if plan.bytes > budget {
        return Err(ApiError::TooLarge(format!(
            "tracing {} needs about {} of memory, over the budget of {} \
             (use a shorter prompt, or start the server with a larger --memory-budget)",
            engine::count(plan.n_tokens, "token"),
            engine::human_bytes(plan.bytes),
            engine::human_bytes(budget)
        )));
    }
    let job = {
        let mut j = s.job();
        if j.state == JobState::Running {
            return Err(ApiError::Conflict(format!(
                "trace {} is still running; wait for it to finish",
                j.job
            )));
        }
        j.job += 1;
        *j = JobStatus {
            state: JobState::Running,
            job: j.job,
            progress: JobProgress {
                done: 0,
                total: 0,
                stage: "starting".into(),
            },
            error: None,
        };
        j.job
    };
    tracing::info!(job, tokens = plan.n_tokens, "trace started");
    let state = s.clone();
    tokio::task::spawn_blocking(move || run_job(state, model, opts, job));
    Ok((StatusCode::ACCEPTED, Json(json!({ "job": job }))))
}

/// The body of a trace job, on a blocking thread: progress goes to the job status, the result
/// replaces the current graph.
fn run_job(s: AppState, model: Arc<engine::Model>, opts: TraceOptions, job: u64) {
    let progress_state = s.clone();
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        model.trace(&opts, &mut |p: engine::Progress| {
            let mut j = progress_state.job();
            j.progress = JobProgress {
                done: p.done,
                total: p.total,
                stage: p.stage.to_string(),
            };
        })
    }));
    let outcome = match result {
        Ok(Ok(trace)) => {
            s.set_current(Current::traced(trace));
            Ok(())
        }
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(_) => Err("the trace stopped on an internal error (see the server's log)".into()),
    };
    let mut j = s.job();
    match outcome {
        Ok(()) => {
            tracing::info!(job, "trace done");
            j.state = JobState::Done;
        }
        Err(msg) => {
            tracing::warn!(job, "trace failed: {msg}");
            j.state = JobState::Failed;
            j.error = Some(msg);
        }
    }
}

/// GET /api/trace/status
pub async fn trace_status(State(s): State<AppState>) -> Json<JobStatus> {
    Json(s.job().clone())
}

/// GET /api/lens
pub async fn lens(State(s): State<AppState>) -> Result<Json<engine::Lens>, ApiError> {
    let c = s.current();
    let values = c.values.clone().ok_or_else(|| {
        ApiError::NotFound(if c.doc.model.source == "llama.cpp-log" {
            "this is a llama.cpp log: it holds only the few values llama.cpp printed, and the \
             logit lens needs every value of each layer's residual stream; trace the prompt \
             with `tensor-trace serve MODEL.gguf --prompt …`"
                .into()
        } else {
            "this graph has not been traced: run a prompt first".into()
        })
    })?;
    let model = s.model().cloned();
    let threads = s.limits().threads;
    let lens = tokio::task::spawn_blocking(move || {
        engine::logit_lens(model.as_deref(), &c.doc, &values, threads)
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?
    .map_err(|e| match e.downcast_ref::<engine::LensUnavailable>() {
        Some(u) => ApiError::NotFound(u.to_string()),
        None => ApiError::Internal(e),
    })?;
    Ok(Json(lens))
}

/// GET /api/diff: the shown graph (A, the reference) compared node by node with the run given
/// by `serve --compare B`, as `tensor-trace compare A B --json` writes it.
pub async fn diff(State(s): State<AppState>) -> Result<Response, ApiError> {
    let c = s.current();
    let body = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ApiError> {
        let with = s.compare().ok_or_else(|| {
            ApiError::NotFound(
                "nothing to compare with: start the server with `--compare B` (a .ttrace, a \
                 llama.cpp eval-callback log or a graph JSON) to colour the graph by divergence"
                    .into(),
            )
        })?;
        if !CompareWith::comparable(&c) {
            return Err(ApiError::NotFound(format!(
                "nothing to compare yet: the graph on show has not been traced; trace a prompt \
                 to compare it with {}",
                with.label
            )));
        }
        let report = with
            .report(&c)
            .map_err(|e| ApiError::Conflict(format!("cannot compare with {}: {e}", with.label)))?;
        serde_json::to_vec(&json!({ "b_file": with.label, "report": &*report }))
            .map_err(|e| ApiError::Internal(e.into()))
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))??;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
