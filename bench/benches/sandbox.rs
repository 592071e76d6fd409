//! The cost of the sandbox: the same guest library answers the same requests against the
//! same in-memory directory, once called natively and once through the wasm component
//! (a fresh instance per call, as the server does). The ratio is what wasm costs.
//!
//! `cargo bench -p scim-bench --bench sandbox`

use criterion::{Criterion, criterion_group, criterion_main};
use scim_bench::sandbox::Sandbox;
use scim_host::tenants::BUNDLED_GUEST;
use std::hint::black_box;
use std::time::Duration;

fn sandbox(c: &mut Criterion) {
    let sandbox = Sandbox::new(BUNDLED_GUEST);
    for scenario in &sandbox.scenarios {
        let mut group = c.benchmark_group(scenario.name);
        group.bench_function("native", |b| b.iter(|| black_box(sandbox.native(&scenario.request))));
        group.bench_function("wasm", |b| b.iter(|| black_box(sandbox.wasm(scenario))));
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = sandbox
}
criterion_main!(benches);
