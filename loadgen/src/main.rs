//! `loadgen` binary: parses options and hands them to the library (see `lib.rs`).

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use loadgen::cli::{Args, Mode};
use loadgen::{report, run, sink};

fn main() -> ExitCode {
    let args = Args::parse();
    match execute(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn execute(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let quiet = args.quiet;
    match args.mode()? {
        Mode::Send(cfg) => {
            let r = run::run(&cfg, &mut |p| {
                if !quiet {
                    eprintln!("{}", report::progress_line(p));
                }
            })?;
            if args.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                print!("{}", report::summary(&r));
            }
        }
        Mode::Sink(addr, plan) => {
            let s = sink::Sink::bind(addr)?;
            println!("listening sink udp {}", s.addr());
            std::io::stdout().flush()?;
            let r = s.run(plan, &mut |p| {
                if !quiet {
                    eprintln!("{}", report::sink_line(p));
                }
            })?;
            if args.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                print!("{}", report::sink_summary(&r));
            }
        }
    }
    Ok(())
}
