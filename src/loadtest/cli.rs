//! The `identity-os loadtest` command line, and what the subcommand does:
//! run, print the summary table, optionally write the JSON.

use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

use super::{run, LoadMode, LoadtestError, LoadtestOptions, StopAfter};

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e} (e.g. 30s, 2m, 500ms)"))
}

/// `identity-os loadtest`: drive a server with many instances.
#[derive(Debug, Clone, Args)]
pub struct LoadtestArgs {
    /// Server base URL.
    #[arg(long, default_value = "http://127.0.0.1:8000", env = "IDENTITY_OS_URL")]
    pub url: String,
    /// API key whose account owns the instances (use an unlimited-tier key:
    /// other tiers' rate limits and quotas show up as errors).
    #[arg(long, env = "IDENTITY_OS_KEY", hide_env_values = true)]
    pub key: String,
    /// Instances to drive.
    #[arg(long, default_value_t = 100)]
    pub instances: usize,
    /// Concurrent workers, i.e. requests in flight (capped at --instances).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// How long to send, e.g. 30s, 2m, 500ms (default 10s).
    #[arg(long, value_parser = parse_duration, conflicts_with = "requests")]
    pub duration: Option<Duration>,
    /// Stop after this many requests instead of after a duration.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Observations per request; above 1 uses /process/batch.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Which observations to send.
    #[arg(long, value_enum, default_value_t = LoadMode::Mixed)]
    pub mode: LoadMode,
    /// Reuse the key's existing instances (creating only the shortfall).
    #[arg(long)]
    pub reuse: bool,
    /// Spacing of one instance's caller timestamps; at least the server's
    /// MIN_CYCLE_INTERVAL.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub spacing: Duration,
    /// Per-request timeout.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub timeout: Duration,
    /// Write the summary as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

impl LoadtestArgs {
    /// The library options these arguments stand for.
    pub fn options(&self) -> LoadtestOptions {
        let stop = match (self.requests, self.duration) {
            (Some(n), _) => StopAfter::Requests(n),
            (None, Some(d)) => StopAfter::Duration(d),
            (None, None) => StopAfter::Duration(Duration::from_secs(10)),
        };
        LoadtestOptions {
            url: self.url.clone(),
            key: self.key.clone(),
            instances: self.instances,
            concurrency: self.concurrency,
            stop,
            batch: self.batch,
            mode: self.mode,
            reuse: self.reuse,
            spacing: self.spacing,
            timeout: self.timeout,
            progress: !self.quiet,
        }
    }
}

/// Runs the subcommand: the summary table goes to stdout, the JSON to
/// `--json`. Failed requests are reported, not fatal; only a run that
/// cannot start (bad options, setup failure) is an error.
pub async fn main(args: LoadtestArgs) -> Result<(), LoadtestError> {
    let summary = run(args.options()).await?;
    print!("{}", summary.table());
    if let Some(path) = &args.json {
        summary.write_json(path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: LoadtestArgs,
    }

    fn parse(extra: &[&str]) -> Result<LoadtestOptions, clap::Error> {
        let mut argv = vec!["x", "--key", "idos_sk_x"];
        argv.extend_from_slice(extra);
        Wrapper::try_parse_from(argv).map(|w| w.args.options())
    }

    #[test]
    fn durations_requests_and_modes_parse() {
        let o = parse(&["--duration", "500ms"]).expect("parse");
        assert_eq!(o.stop, StopAfter::Duration(Duration::from_millis(500)));
        let o = parse(&["--duration", "2m", "--mode", "stress"]).expect("parse");
        assert_eq!(o.stop, StopAfter::Duration(Duration::from_secs(120)));
        assert_eq!(o.mode, LoadMode::Stress);
        let o = parse(&["--requests", "7", "--batch", "10"]).expect("parse");
        assert_eq!(o.stop, StopAfter::Requests(7));
        assert_eq!(o.batch, 10);
        assert_eq!(
            parse(&[]).expect("parse").stop,
            StopAfter::Duration(Duration::from_secs(10))
        );
        assert!(parse(&["--duration", "1s", "--requests", "3"]).is_err());
        assert!(parse(&["--duration", "soon"]).is_err());
    }

    #[test]
    fn unusable_options_are_refused() {
        let ok = parse(&[]).expect("parse");
        assert!(ok.validate().is_ok());
        for bad in [
            vec!["--batch", "101"],
            vec!["--batch", "0"],
            vec!["--instances", "0"],
            vec!["--concurrency", "0"],
            vec!["--url", "localhost:8000"],
            vec!["--requests", "0"],
        ] {
            let options = parse(&bad).expect("parse");
            assert!(options.validate().is_err(), "{bad:?}");
        }
    }
}
