//! One GET of `$SYNACK_URL` with ureq's defaults, or with `--recommended`
//! the timeouts docs/TIMEOUTS.md recommends (5 s to connect, 20 s in all).
use std::time::Duration;

fn main() {
    let url = std::env::var("SYNACK_URL").expect("SYNACK_URL");
    let recommended = std::env::args().any(|a| a == "--recommended");
    let mut config = ureq::Agent::config_builder();
    if recommended {
        config = config
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(Duration::from_secs(20)));
    }
    let agent: ureq::Agent = config.build().into();
    match agent.get(&url).call() {
        Ok(mut r) => {
            if let Err(e) = r.body_mut().read_to_vec() {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
