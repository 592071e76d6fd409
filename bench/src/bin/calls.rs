//! Repeats one scenario of the sandbox benchmark, for an instruction count that does not
//! depend on the machine's noise:
//!
//!     valgrind --tool=callgrind --toggle-collect='scim_bench::sandbox::Sandbox::wasm*' \
//!         target/release/calls unknown_path wasm 1000 [GUEST.wasm]
//!
//! divides into instructions per call. Without a guest file, the bundled guest runs. It
//! prints the time per call too, wall and on the CPU (user and kernel: callgrind counts
//! no kernel work; on a shared machine the wall time also holds the time others ran).

use scim_bench::sandbox::Sandbox;
use std::hint::black_box;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [name, path, times, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: calls SCENARIO native|wasm TIMES [GUEST.wasm]");
    };
    let times: usize = times.parse()?;
    let guest = match rest.first() {
        Some(file) => std::fs::read(file)?,
        None => scim_host::tenants::BUNDLED_GUEST.to_vec(),
    };
    let sandbox = Sandbox::new(&guest);
    let Some(scenario) = sandbox.scenarios.iter().find(|s| s.name == name) else {
        let names: Vec<_> = sandbox.scenarios.iter().map(|s| s.name).collect();
        anyhow::bail!("no scenario {name}; there are {}", names.join(", "));
    };
    let (started, on_cpu) = (std::time::Instant::now(), thread_cpu_time());
    for _ in 0..times {
        match path.as_str() {
            "native" => drop(black_box(sandbox.native(&scenario.request))),
            "wasm" => drop(black_box(sandbox.wasm(scenario))),
            other => anyhow::bail!("no path {other}: native or wasm"),
        }
    }
    let (elapsed, on_cpu) = (started.elapsed(), thread_cpu_time() - on_cpu);
    eprintln!(
        "{times} calls in {elapsed:.2?}: {:.2?} each, {:.2?} of it on the CPU",
        elapsed / times as u32,
        on_cpu / times as u32
    );
    Ok(())
}

/// The time this thread has run on a CPU, user and kernel, to the nanosecond
/// (`/proc/thread-self/schedstat`, Linux).
fn thread_cpu_time() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let nanos = stat.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0);
    std::time::Duration::from_nanos(nanos)
}
