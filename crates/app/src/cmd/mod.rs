//! One module per subcommand, each with a clap `Args` struct and `run(args)`.

pub mod graph;
pub mod inspect;
pub mod serve;
pub mod trace;
