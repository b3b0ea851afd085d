//! The `tensor-trace` application: command line, HTTP server and the glue between them and the
//! tt-core / tt-models libraries. The binary (`main.rs`) only parses arguments and prints
//! errors; everything else is here so the integration tests can drive the server's router.

pub mod cli;
pub mod cmd;
pub mod engine;
pub mod llama_cpp;
pub mod logging;
pub mod progress;
pub mod server;
pub mod sources;
pub mod summary;
