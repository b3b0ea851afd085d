//! Every endpoint of the HTTP API (the contract in docs/API.md, mirrored by
//! web/src/api.ts), its answers and its errors, through the router (`tower::ServiceExt::oneshot`)
//! and once through a real server on an ephemeral 127.0.0.1 port.
//!
//! Tests that trace need SmolLM2-135M Q4_1 from `scripts/fetch-test-data` (in
//! `$TENSOR_TRACE_DATA`, default `~/.cache/tensor-trace`); they fail with that advice when it is
//! missing.

mod common;

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tensor_trace::engine::{self, Model, TraceOptions};
use tensor_trace::server::{self, AppState, Current, Limits};
use tower::ServiceExt;
use tt_core::{GgmlType, Graph, Group, Leaf};

const PROMPT: &str = "The capital of France is";

/// SmolLM2, opened once for all tests.
fn model() -> Arc<Model> {
    static MODEL: OnceLock<Arc<Model>> = OnceLock::new();
    MODEL
        .get_or_init(|| Arc::new(Model::open(&common::smollm2_path()).expect("SmolLM2 opens")))
        .clone()
}

fn options(prompt: &str, flash_attn: bool) -> TraceOptions {
    TraceOptions {
        prompt: prompt.to_string(),
        flash_attn,
        threads: 2,
        memory_budget: Limits::default().memory_budget,
    }
}

/// SmolLM2 traced on [`PROMPT`], once per attention path.
fn traced(flash_attn: bool) -> Current {
    static FA_ON: OnceLock<Current> = OnceLock::new();
    static FA_OFF: OnceLock<Current> = OnceLock::new();
    let cell = if flash_attn { &FA_ON } else { &FA_OFF };
    cell.get_or_init(|| {
        let t = model()
            .trace(&options(PROMPT, flash_attn), &mut |_| {})
            .expect("SmolLM2 traces");
        Current::traced(t)
    })
    .clone()
}

/// A two-node graph recorded here, so its locations point into this file.
fn tiny_graph() -> tt_core::trace::GraphDoc {
    let mut g = Graph::new();
    let w = g.new_leaf("w", Leaf::Weight, GgmlType::F32, [4, 3, 1, 1], Group::Mlp);
    let x = g.new_leaf(
        "x",
        Leaf::Input(tt_core::InputKind::Tokens),
        GgmlType::F32,
        [4, 2, 1, 1],
        Group::Input,
    );
    let y = g.mul_mat(w, x); // the line /api/code must show
    g.cb(y, "ffn_up", Some(0), Group::Mlp);
    g.build_forward_expand(y);
    tt_core::trace::GraphDoc::from_graph(&g, tt_core::trace::ModelInfo::default())
}

fn app(current: Current, model: Option<Arc<Model>>, limits: Limits) -> Router {
    server::router(AppState::new(current, model, limits))
}

fn preset_app() -> Router {
    app_with(Limits::default())
}

fn app_with(limits: Limits) -> Router {
    let doc = engine::preset_graph(engine::DEFAULT_PRESET).expect("the default preset builds");
    app(Current::untraced(doc), None, limits)
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let res = app.clone().oneshot(req).await.expect("the router answers");
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .expect("the body is readable");
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, body)
}

async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post(app: &Router, uri: &str, body: impl Into<String>) -> (StatusCode, Value) {
    let req = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.into()))
        .unwrap();
    send(app, req).await
}

/// An error answer: the status, and `{error}` (a clear message, nothing else).
fn assert_error(got: &(StatusCode, Value), status: StatusCode, contains: &str) {
    assert_eq!(got.0, status, "answer: {}", got.1);
    let obj = got.1.as_object().expect("errors are JSON objects");
    assert_eq!(obj.len(), 1, "errors have only `error`: {}", got.1);
    let msg = obj["error"].as_str().expect("`error` is a string");
    assert!(
        msg.contains(contains),
        "{msg:?} should contain {contains:?}"
    );
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

/// The id of the `occurrence`-th tensor called `name` with op `op`.
fn find(doc: &tt_core::trace::GraphDoc, name: &str, op: &str) -> u32 {
    doc.tensors
        .iter()
        .find(|t| t.name == name && t.op == op)
        .unwrap_or_else(|| panic!("no {op} node {name}"))
        .id
}

// ---------------------------------------------------------------- /api/graph, /api/presets

#[tokio::test]
async fn graph_is_the_default_preset() {
    let (status, doc) = get(&preset_app(), "/api/graph").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["format"], "tensor-trace-graph");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["model"]["name"], "LLaMA 3.1 8B");
    assert_eq!(doc["model"]["source"], "preset");
    assert_eq!(doc["model"]["hparams"]["block_count"], 32);
    assert!(doc["run"].is_null());
    let tensors = doc["tensors"].as_array().unwrap();
    for (i, t) in tensors.iter().enumerate() {
        assert_eq!(t["id"], i, "tensors[i].id == i");
    }
    let l_out: Vec<_> = tensors
        .iter()
        .filter(|t| t["name"].as_str().is_some_and(|n| n.starts_with("l_out-")))
        .collect();
    assert_eq!(l_out.len(), 32, "one residual output per layer");
}

#[tokio::test]
async fn graph_of_another_preset_leaves_the_state_alone() {
    let app = preset_app();
    let (status, doc) = get(&app, "/api/graph?preset=llama-3.2-1b").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["model"]["name"], "LLaMA 3.2 1B");
    assert_eq!(doc["model"]["hparams"]["block_count"], 16);
    let (_, current) = get(&app, "/api/graph").await;
    assert_eq!(current["model"]["name"], "LLaMA 3.1 8B");
}

#[tokio::test]
async fn graph_of_an_unknown_preset_is_404() {
    let got = get(&preset_app(), "/api/graph?preset=gpt-5").await;
    assert_error(&got, StatusCode::NOT_FOUND, "unknown preset \"gpt-5\"");
    assert_error(&got, StatusCode::NOT_FOUND, "llama-3.1-8b");
}

#[tokio::test]
async fn presets_list_ids_names_and_descriptions() {
    let (status, list) = get(&preset_app(), "/api/presets").await;
    assert_eq!(status, StatusCode::OK);
    let list = list.as_array().unwrap();
    assert_eq!(list[0]["id"], engine::DEFAULT_PRESET, "the default first");
    assert!(list.len() >= 5);
    for p in list {
        assert_eq!(keys(p), ["description", "id", "name"]);
        assert!(!p["description"].as_str().unwrap().is_empty());
    }
    let ids: Vec<_> = list.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert!(
        ids.contains(&"llama-3.1-405b") && ids.contains(&"llama-3.2-3b"),
        "{ids:?}"
    );
}

// ---------------------------------------------------------------- /api/tensor

#[tokio::test]
async fn tensor_of_an_untraced_graph_is_404() {
    let got = get(&preset_app(), "/api/tensor/3").await;
    assert_error(&got, StatusCode::NOT_FOUND, "not been traced");
}

#[tokio::test]
async fn tensor_ids_are_checked() {
    let app = preset_app();
    assert_error(
        &get(&app, "/api/tensor/abc").await,
        StatusCode::BAD_REQUEST,
        "number",
    );
    assert_error(
        &get(&app, "/api/tensor/99999999").await,
        StatusCode::NOT_FOUND,
        "no tensor 99999999",
    );
    // past u32: still a number, still no such tensor
    assert_error(
        &get(&app, "/api/tensor/4294967296").await,
        StatusCode::NOT_FOUND,
        "no tensor 4294967296",
    );
    // what axum itself would answer in plain text comes as JSON errors too
    assert_error(
        &get(&app, "/api/tensor/%ff").await,
        StatusCode::BAD_REQUEST,
        "bad path",
    );
    assert_error(
        &get(&app, "/api/graph?preset=a&preset=b").await,
        StatusCode::BAD_REQUEST,
        "bad query string",
    );
    assert_error(
        &get(&app, "/api/source?file=a&file=b").await,
        StatusCode::BAD_REQUEST,
        "bad query string",
    );
    for path in ["/api", "/api/"] {
        let (status, body) = get(&app, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
}

#[tokio::test]
async fn tensor_values_of_a_traced_smollm2() {
    let c = traced(true);
    let app = app(c.clone(), None, Limits::default());
    let id = find(&c.doc, "Qcur-0", "MUL_MAT");
    let (status, v) = get(&app, &format!("/api/tensor/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        keys(&v),
        [
            "heatmap",
            "histogram",
            "id",
            "name",
            "ne",
            "sample",
            "stats"
        ],
        "the fields of TensorValues in api.ts"
    );
    assert_eq!(v["name"], "Qcur-0");
    assert_eq!(v["ne"], json!([576, 5, 1, 1]));
    let t = &c.doc.tensors[id as usize];
    let stats = t.stats.as_ref().expect("traced nodes have stats");
    assert_eq!(v["stats"]["n"], 2880);
    assert_eq!(v["stats"]["sum"].as_f64().unwrap(), stats.sum);
    let counts: u64 = v["histogram"]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(counts, 2880 - stats.nan - stats.inf);
    assert_eq!(v["histogram"]["counts"].as_array().unwrap().len(), 64);
    assert_eq!(v["histogram"]["min"].as_f64().unwrap(), stats.min);
    // 5 token rows; 576 columns averaged 5 at a time → 116 cells.
    assert_eq!(
        (v["heatmap"]["rows"].as_u64(), v["heatmap"]["cols"].as_u64()),
        (Some(5), Some(116))
    );
    assert_eq!(v["heatmap"]["values"].as_array().unwrap().len(), 5 * 116);
    let stored = c
        .values
        .as_ref()
        .unwrap()
        .get(&t.values.as_ref().unwrap().key)
        .unwrap();
    let sample: Vec<f32> = v["sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(
        sample,
        stored[..16],
        "the sample is the first stored values"
    );
    let mean0: f32 = stored[..5].iter().sum::<f32>() / 5.0;
    let cell0 = v["heatmap"]["values"][0].as_f64().unwrap() as f32;
    assert!(
        (cell0 - mean0).abs() < 1e-5,
        "cell 0 = mean of the first 5 values: {cell0} vs {mean0}"
    );
}

#[tokio::test]
async fn tensor_without_values_is_404() {
    let c = traced(true);
    let weight = c
        .doc
        .tensors
        .iter()
        .find(|t| t.kind == "weight")
        .expect("a weight")
        .id;
    let got = get(
        &app(c, None, Limits::default()),
        &format!("/api/tensor/{weight}"),
    )
    .await;
    assert_error(&got, StatusCode::NOT_FOUND, "no values were captured");
}

// ---------------------------------------------------------------- /api/attention

#[tokio::test]
async fn attention_of_a_softmax_node() {
    let c = traced(false);
    let id = find(&c.doc, "kq_soft_max-0", "SOFT_MAX");
    let (status, a) = get(
        &app(c, None, Limits::default()),
        &format!("/api/attention/{id}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{a}");
    assert_eq!(
        keys(&a),
        [
            "heads",
            "layer",
            "n_head",
            "n_head_kv",
            "n_kv_used",
            "n_tokens",
            "tokens"
        ]
    );
    assert_eq!(
        (
            a["layer"].as_u64(),
            a["n_head"].as_u64(),
            a["n_head_kv"].as_u64()
        ),
        (Some(0), Some(9), Some(3))
    );
    assert_eq!(
        (a["n_tokens"].as_u64(), a["n_kv_used"].as_u64()),
        (Some(5), Some(5))
    );
    assert_eq!(
        a["tokens"],
        json!(["The", "Ġcapital", "Ġof", "ĠFrance", "Ġis"])
    );
    let heads = a["heads"].as_array().unwrap();
    assert_eq!(heads.len(), 9);
    for h in heads {
        let p: Vec<f64> = h
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(p.len(), 25);
        for (t, row) in p.chunks(5).enumerate() {
            let sum: f64 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-3, "row {t} sums to {sum}");
            assert!(
                row[t + 1..].iter().all(|&x| x == 0.0),
                "causal: token {t} sees no later token: {row:?}"
            );
        }
        assert_eq!(p[0], 1.0, "the first token attends only to itself");
    }
}

#[tokio::test]
async fn attention_of_other_nodes_is_404() {
    let c = traced(true);
    let id = find(&c.doc, "Qcur-0", "MUL_MAT");
    let got = get(
        &app(c, None, Limits::default()),
        &format!("/api/attention/{id}"),
    )
    .await;
    assert_error(&got, StatusCode::NOT_FOUND, "kq_soft_max");
    let got = get(&preset_app(), "/api/attention/abc").await;
    assert_error(&got, StatusCode::BAD_REQUEST, "number");
}

// ---------------------------------------------------------------- /api/code, /api/source

#[tokio::test]
async fn code_shows_the_line_that_built_the_node() {
    let doc = tiny_graph();
    let id = find(&doc, "ffn_up-0", "MUL_MAT");
    let (status, code) = get(
        &app(Current::untraced(doc), None, Limits::default()),
        &format!("/api/code/{id}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{code}");
    assert_eq!(keys(&code), ["kernel", "llama_cpp", "ours"]);
    assert_eq!(code["ours"]["file"], "crates/app/tests/api.rs");
    let line = code["ours"]["line"].as_u64().unwrap() as usize;
    let text = code["ours"]["text"].as_str().unwrap();
    assert_eq!(
        text,
        include_str!("api.rs"),
        "the whole embedded file, as compiled"
    );
    assert!(
        text.lines()
            .nth(line - 1)
            .unwrap()
            .contains("g.mul_mat(w, x); // the line /api/code must show"),
        "line {line}"
    );
    assert_eq!(code["kernel"]["fn_name"], "mul_mat");
    let kfile = code["kernel"]["file"].as_str().unwrap();
    assert_eq!(kfile, "crates/core/src/kernels/mul_mat.rs");
    let kline = code["kernel"]["line"].as_u64().unwrap() as usize;
    let ktext = code["kernel"]["text"].as_str().unwrap();
    assert!(ktext
        .lines()
        .nth(kline - 1)
        .unwrap()
        .contains("pub fn mul_mat"));
    assert_eq!(code["llama_cpp"]["file"], "src/llama-graph.cpp");
    assert_eq!(
        code["llama_cpp"]["function"],
        "llm_graph_context::build_ffn"
    );
    assert_eq!(code["llama_cpp"]["line"], 1800);
}

#[tokio::test]
async fn code_of_a_real_graph_node() {
    let doc = engine::preset_graph("llama-3.2-1b").unwrap();
    let q = find(&doc, "Qcur-3", "MUL_MAT");
    let leaf = doc.tensors.iter().find(|t| t.kind == "weight").unwrap().id;
    let app = app(Current::untraced(doc), None, Limits::default());
    let (_, code) = get(&app, &format!("/api/code/{q}")).await;
    assert_eq!(code["ours"]["file"], "crates/models/src/llama.rs");
    let line = code["ours"]["line"].as_u64().unwrap() as usize;
    let src = code["ours"]["text"].as_str().unwrap();
    assert!(
        src.lines().nth(line - 1).unwrap().contains("mul_mat"),
        "{}",
        src.lines().nth(line - 1).unwrap()
    );
    assert_eq!(
        code["llama_cpp"]["function"],
        "llm_graph_context::build_qkv"
    );
    assert_eq!(code["llama_cpp"]["line"], 1703);
    let (status, code) = get(&app, &format!("/api/code/{leaf}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(code["kernel"].is_null(), "a weight has no kernel");
    assert_error(
        &get(&app, "/api/code/77777777").await,
        StatusCode::NOT_FOUND,
        "no tensor",
    );
}

#[tokio::test]
async fn source_serves_embedded_files_only() {
    let app = preset_app();
    let (status, v) = get(&app, "/api/source?file=crates/core/src/graph.rs").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&v), ["file", "text"]);
    assert_eq!(v["file"], "crates/core/src/graph.rs");
    assert!(v["text"]
        .as_str()
        .unwrap()
        .contains("pub fn build_forward_expand"));
    for bad in [
        "../../etc/passwd",
        "/etc/passwd",
        "crates/../../../etc/passwd",
        "crates/core/../../Cargo.toml",
        "crates/app/Cargo.toml",
        "Cargo.toml",
        "crates/core/src/missing.rs",
        "",
    ] {
        let uri = format!("/api/source?file={}", bad.replace('/', "%2F"));
        assert_error(
            &get(&app, &uri).await,
            StatusCode::NOT_FOUND,
            "not one of the embedded source files",
        );
    }
    assert_error(
        &get(&app, "/api/source").await,
        StatusCode::BAD_REQUEST,
        "file=",
    );
}

// ---------------------------------------------------------------- /api/trace, /api/trace/status

#[tokio::test]
async fn trace_without_a_model_is_400() {
    let got = post(&preset_app(), "/api/trace", r#"{"prompt":"hi"}"#).await;
    assert_error(&got, StatusCode::BAD_REQUEST, "no model file was given");
}

#[tokio::test]
async fn trace_requests_are_checked() {
    let app = app(traced(true), Some(model()), Limits::default());
    assert_error(
        &post(&app, "/api/trace", r#"{"prompt":""}"#).await,
        StatusCode::BAD_REQUEST,
        "the prompt is empty",
    );
    assert_error(
        &post(&app, "/api/trace", "not json").await,
        StatusCode::BAD_REQUEST,
        "bad request body",
    );
    assert_error(
        &post(&app, "/api/trace", r#"{"text":"x"}"#).await,
        StatusCode::BAD_REQUEST,
        "bad request body",
    );
    let long = json!({ "prompt": "word ".repeat(600) }).to_string();
    assert_error(
        &post(&app, "/api/trace", long).await,
        StatusCode::BAD_REQUEST,
        "micro-batch of 512",
    );
    let huge = json!({ "prompt": "a".repeat(70_000) }).to_string();
    assert_error(
        &post(&app, "/api/trace", huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "larger than 64 KiB",
    );
    let (status, s) = get(&app, "/api/trace/status").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s["state"], "idle", "no refused request started a job");
}

#[tokio::test]
async fn trace_over_the_memory_budget_is_413() {
    let limits = Limits {
        memory_budget: 1 << 20,
        ..Limits::default()
    };
    let app = app(traced(true), Some(model()), limits);
    let got = post(&app, "/api/trace", json!({ "prompt": PROMPT }).to_string()).await;
    assert_error(
        &got,
        StatusCode::PAYLOAD_TOO_LARGE,
        "over the budget of 1.0 MiB",
    );
}

#[test]
fn memory_estimate_covers_what_a_trace_captures() {
    for fa in [true, false] {
        let opts = options(PROMPT, fa);
        let plan = model().check(&opts).expect("the prompt is fine");
        assert_eq!(plan.n_tokens, 5);
        let file = common::TempFile::reserve(&format!("estimate-{fa}.ttrace"));
        let t = model().trace(&opts, &mut |_| {}).unwrap();
        engine::write_trace(&file.0, &t).unwrap();
        let back = tt_core::trace::read(&file.0).unwrap();
        let captured: u64 = back
            .keys()
            .iter()
            .map(|k| back.values(k).unwrap().len() as u64 * 4)
            .sum();
        let ratio = plan.bytes as f64 / captured as f64;
        assert!(
            (1.0..1.1).contains(&ratio),
            "fa {fa}: estimate {} for {captured} captured",
            plan.bytes
        );
    }
}

async fn wait_done(app: &Router) -> Value {
    let start = Instant::now();
    loop {
        let (status, s) = get(app, "/api/trace/status").await;
        assert_eq!(status, StatusCode::OK);
        if s["state"] != "running" {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "the trace did not finish: {s}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn trace_runs_one_at_a_time_and_replaces_the_graph() {
    let app = app(traced(true), Some(model()), Limits::default());
    let body = json!({ "prompt": "Paris is the capital of", "flash_attn": false }).to_string();
    let (status, started) = post(&app, "/api/trace", body.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    assert_eq!(started, json!({ "job": 1 }));
    // While it runs the server still answers, and refuses a second trace.
    assert_error(
        &post(&app, "/api/trace", body).await,
        StatusCode::CONFLICT,
        "still running",
    );
    let (status, _) = get(&app, "/api/presets").await;
    assert_eq!(status, StatusCode::OK);

    let s = wait_done(&app).await;
    assert_eq!(s["state"], "done", "{s}");
    assert_eq!(s["progress"]["done"], s["progress"]["total"]);
    assert!(
        s["progress"]["total"].as_u64().unwrap() > 1000,
        "every node reported"
    );
    assert!(s.get("error").is_none());

    let (_, doc) = get(&app, "/api/graph").await;
    assert_eq!(doc["run"]["prompt"], "Paris is the capital of");
    assert_eq!(doc["run"]["flash_attn"], false);
    assert_eq!(doc["run"]["top"].as_array().unwrap().len(), 5);
    let nodes = doc["nodes"].as_array().unwrap();
    let with_stats = nodes
        .iter()
        .filter(|&id| !doc["tensors"][id.as_u64().unwrap() as usize]["stats"].is_null())
        .count();
    assert_eq!(
        with_stats,
        nodes.len(),
        "every computed node has statistics"
    );
    let soft = doc["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "kq_soft_max-0")
        .expect("flash attention off: softmax nodes");
    let (status, a) = get(&app, &format!("/api/attention/{}", soft["id"])).await;
    assert_eq!(status, StatusCode::OK, "{a}");
    assert_eq!(
        a["n_tokens"].as_u64(),
        doc["run"]["tokens"].as_array().map(|t| t.len() as u64)
    );
}

#[tokio::test]
async fn failed_trace_reports_its_error() {
    // The graph of this model builds (so the request is accepted) but one weight has a type
    // our MUL_MAT cannot compute: the job fails, and says why.
    let gguf = tt_core::gguf::GgufFile::from_bytes("mxfp4.gguf", common::smollm2_with_mxfp4())
        .expect("the variant parses");
    let model = Model::from_gguf(Path::new("mxfp4.gguf"), gguf).expect("the variant opens");
    let app = app(traced(true), Some(Arc::new(model)), Limits::default());
    let (status, _) = post(&app, "/api/trace", json!({ "prompt": PROMPT }).to_string()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let s = wait_done(&app).await;
    assert_eq!(s["state"], "failed", "{s}");
    assert_eq!(keys(&s), ["error", "job", "progress", "state"]);
    let err = s["error"].as_str().unwrap();
    assert!(
        err.contains("mxfp4") && err.contains("blk.0.attn_q.weight"),
        "{err}"
    );
    let (_, doc) = get(&app, "/api/graph").await;
    assert_eq!(
        doc["run"]["prompt"], PROMPT,
        "a failed trace leaves the graph shown as it was"
    );
}

// ---------------------------------------------------------------- /api/lens

#[tokio::test]
async fn lens_of_an_untraced_graph_is_404() {
    assert_error(
        &get(&preset_app(), "/api/lens").await,
        StatusCode::NOT_FOUND,
        "not been traced",
    );
}

#[tokio::test]
async fn lens_without_the_model_is_404() {
    let got = get(&app(traced(true), None, Limits::default()), "/api/lens").await;
    assert_error(&got, StatusCode::NOT_FOUND, "needs the model's weights");
}

#[tokio::test]
async fn lens_ends_with_the_model_prediction() {
    let c = traced(true);
    let top = c.doc.run.as_ref().unwrap().top.clone();
    let (status, lens) = get(&app(c, Some(model()), Limits::default()), "/api/lens").await;
    assert_eq!(status, StatusCode::OK, "{lens}");
    let layers = lens["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 30);
    for (i, l) in layers.iter().enumerate() {
        assert_eq!(l["layer"], i);
        assert_eq!(l["top"].as_array().unwrap().len(), 5);
    }
    let last = &layers[29]["top"][0];
    assert_eq!(
        last["id"], top[0].id,
        "the last layer's lens is the model's own prediction"
    );
    assert_eq!(last["text"], " Paris");
    assert_eq!(last["logit"].as_f64().unwrap() as f32, top[0].logit);
}

// ---------------------------------------------------------------- a run with NaN

/// A run whose layer-3 norm weight holds a NaN: every answer is still JSON, non-finite numbers
/// come as "nan" strings, a tensor with no finite value has no histogram range.
#[tokio::test]
async fn a_nan_run_is_served_as_json() {
    let bytes = common::smollm2_with_nan();
    let path = std::env::temp_dir().join(format!("tt-api-nan-{}.gguf", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let m = Model::open(&path).unwrap();
    let t = m.trace(&options(PROMPT, true), &mut |_| {}).unwrap();
    let _ = std::fs::remove_file(&path);
    let app = app(Current::traced(t), None, Limits::default());
    let (status, doc) = get(&app, "/api/graph").await;
    assert_eq!(status, StatusCode::OK);
    let top = &doc["run"]["top"][0];
    assert_eq!(top["prob"], "nan", "{top}");
    let logits = doc["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "result_output")
        .unwrap();
    assert_eq!(logits["stats"]["min"], "nan");
    assert_eq!(logits["stats"]["nan"], 49152);
    let (status, v) = get(&app, &format!("/api/tensor/{}", logits["id"])).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["stats"]["sum"], "nan");
    assert_eq!(v["histogram"]["min"], Value::Null);
    assert_eq!(
        v["histogram"]["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .sum::<u64>(),
        0
    );
}

// ---------------------------------------------------------------- diff mode

/// A traced run saved to a file and read back as `serve --compare` reads it.
fn compare_with(flash_attn: bool, prompt: &str) -> server::CompareWith {
    let dir = std::env::temp_dir().join(format!("tt-api-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("fa{flash_attn}-{}.ttrace", prompt.len()));
    let t = model()
        .trace(&options(prompt, flash_attn), &mut |_| {})
        .expect("SmolLM2 traces");
    engine::write_trace(&path, &t).unwrap();
    let input = tensor_trace::cmd::compare::load(&path).unwrap();
    server::CompareWith::new(
        "b.ttrace".into(),
        input,
        tt_core::compare::Tolerance::default(),
    )
}

#[tokio::test]
async fn diff_without_compare_is_404() {
    let got = get(&app(traced(true), None, Limits::default()), "/api/diff").await;
    assert_error(&got, StatusCode::NOT_FOUND, "--compare B");
}

#[tokio::test]
async fn diff_of_flash_attention_on_against_off() {
    let state = AppState::comparing(
        traced(true),
        None,
        Limits::default(),
        Some(compare_with(false, PROMPT)),
    );
    let app = server::router(state);
    let (status, body) = get(&app, "/api/diff").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["b_file"], "b.ttrace");
    let r = &body["report"];
    let nodes = r["nodes"].as_array().unwrap();
    let doc = traced(true).doc;
    // every node of the FA-on graph but its fused attention path is matched
    let unmatched_a = r["unmatched_a"].as_array().unwrap().len();
    assert_eq!(
        nodes.len() + unmatched_a,
        doc.nodes.len(),
        "{unmatched_a} unmatched"
    );
    assert!(nodes.len() > 800, "{} matched", nodes.len());
    for d in nodes {
        let id = d["id_a"].as_u64().unwrap() as usize;
        assert_eq!(
            doc.tensors[id].name, d["name"],
            "id_a indexes the shown graph"
        );
    }
    let first = &nodes[r["first_divergence"].as_u64().unwrap() as usize];
    assert_eq!(first["layer"], 0, "{first}");
    assert_eq!(first["name"], "attn_out-0", "{first}");
    // up to the attention, the two runs compute the same numbers
    let q = nodes.iter().find(|d| d["name"] == "Qcur-0").unwrap();
    assert_eq!(q["differs"], false, "{q}");
    assert_eq!(q["mode"], "full");
    let only_b: Vec<&str> = r["unmatched_b"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert!(only_b.contains(&"kq_soft_max-0"), "{only_b:?}");
    // the difference grows through 30 layers, but the logits still point the same way
    // (llama.cpp's own FA on/off runs differ as much: both match its reference logs)
    let logits = nodes.iter().find(|d| d["name"] == "result_output").unwrap();
    assert_eq!(logits["diverged"], true);
    assert!(logits["cosine"].as_f64().unwrap() > 0.99, "{logits}");
    // asked again: the same report
    let (_, again) = get(&app, "/api/diff").await;
    assert_eq!(again, body);
}

/// A live run against its own saved trace: nothing differs, not even a sum's last bit.
#[tokio::test]
async fn diff_of_a_run_with_its_own_saved_trace_is_empty() {
    let state = AppState::comparing(
        traced(false),
        None,
        Limits::default(),
        Some(compare_with(false, PROMPT)),
    );
    let (status, body) = get(&server::router(state), "/api/diff").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r = &body["report"];
    assert_eq!(
        r["first_difference"],
        Value::Null,
        "{}",
        r["nodes"][r["first_difference"].as_u64().unwrap_or(0) as usize]
    );
    assert_eq!(r["nodes"].as_array().unwrap().len(), 1086);
    assert!(r["unmatched_a"].as_array().unwrap().is_empty());
}

/// `serve MODEL --compare B` without a prompt: nothing to compare until a prompt is traced.
#[tokio::test]
async fn diff_of_an_untraced_graph_waits_for_a_trace() {
    let untraced = Current::untraced(model().graph(5, true).unwrap());
    let state = AppState::comparing(
        untraced,
        Some(model()),
        Limits::default(),
        Some(compare_with(true, PROMPT)),
    );
    let got = get(&server::router(state), "/api/diff").await;
    assert_error(
        &got,
        StatusCode::NOT_FOUND,
        "trace a prompt to compare it with b.ttrace",
    );
}

#[tokio::test]
async fn diff_of_another_prompt_is_409() {
    let state = AppState::comparing(
        traced(true),
        None,
        Limits::default(),
        Some(compare_with(true, "Hello")),
    );
    let got = get(&server::router(state), "/api/diff").await;
    assert_error(&got, StatusCode::CONFLICT, "different prompts");
}

// ---------------------------------------------------------------- static files, routing

#[tokio::test]
async fn root_serves_the_viewer_or_says_how_to_build_it() {
    let app = preset_app();
    let res = app
        .clone()
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let ct = res.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("text/html"), "{ct}");
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    let html = String::from_utf8_lossy(&body);
    if server::bundled() {
        assert!(
            html.contains("<script"),
            "the built index.html loads the bundle"
        );
    } else {
        assert!(
            html.contains("make run"),
            "the placeholder says how to build the viewer"
        );
    }
    let (status, _) = get(&app, "/assets/no-such-file.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unknown_api_paths_are_json_404() {
    assert_error(
        &get(&preset_app(), "/api/nothing").await,
        StatusCode::NOT_FOUND,
        "no API endpoint /api/nothing",
    );
}

#[tokio::test]
async fn requests_for_other_host_names_are_refused() {
    // DNS rebinding: a page of evil.example re-pointed at 127.0.0.1 still sends its own name.
    let app = preset_app();
    let with_host = |h: &str| {
        Request::get("/api/presets")
            .header(header::HOST, h)
            .body(Body::empty())
            .unwrap()
    };
    let got = send(&app, with_host("evil.example:8765")).await;
    assert_error(
        &got,
        StatusCode::FORBIDDEN,
        "only requests addressed to localhost",
    );
    for ok in [
        "localhost:8765",
        "127.0.0.1:8765",
        "[::1]:8765",
        "LOCALHOST",
    ] {
        let (status, _) = send(&app, with_host(ok)).await;
        assert_eq!(status, StatusCode::OK, "{ok}");
    }
    // two Host headers, a local one first: refused, not decided by order
    let mut req = with_host("localhost:8765");
    req.headers_mut()
        .append(header::HOST, "evil.example".parse().unwrap());
    let (status, _) = send(&app, req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let open = app_with(Limits {
        local_only: false,
        ..Limits::default()
    });
    let (status, _) = send(&open, with_host("evil.example:8765")).await;
    assert_eq!(status, StatusCode::OK, "--host 0.0.0.0 serves every name");
}

// ---------------------------------------------------------------- a real server

#[tokio::test]
async fn server_binds_localhost_by_default_and_stops_cleanly() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = server::bind(server::DEFAULT_HOST, 0).await.expect("binds");
    let addr = listener.local_addr().unwrap();
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    let doc = engine::preset_graph(engine::DEFAULT_PRESET).unwrap();
    let state = AppState::new(Current::untraced(doc), None, Limits::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(listener, state, async {
        let _ = stopped.await;
    }));

    let mut conn = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    conn.write_all(b"GET /api/presets HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.contains("\"llama-3.1-8b\""));

    stop.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops after the shutdown signal")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
}
