//! One module per subcommand, each with a clap `Args` struct and `run(args)`.

pub mod compare;
pub mod export;
pub mod graph;
pub mod import;
pub mod inspect;
pub mod lens;
pub mod serve;
pub mod trace;
