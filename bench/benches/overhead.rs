//! What per-realm limits and metrics add to every request: the limiter's admission (a
//! token bucket and a concurrency permit) and the Prometheus recordings a SCIM request
//! makes (request counter, instantiation counter, guest-call and commit histograms), as
//! `http/scim.rs` makes them.

use criterion::{Criterion, criterion_group, criterion_main};
use scim_host::config::Limits;
use scim_host::limits::RealmLimiter;
use scim_host::metrics::{Metrics, RealmLabels};
use std::hint::black_box;

fn overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("per-request overhead");
    let limited = RealmLimiter::new(&Limits {
        requests_per_second: Some(1e12),
        burst: Some(u32::MAX),
        concurrent_calls: Some(64),
        ..Limits::default()
    });
    group.bench_function("limits: rate and concurrency admitted", |b| {
        b.iter(|| drop(black_box(limited.admit().expect("admitted"))))
    });
    let unlimited = RealmLimiter::new(&Limits::default());
    group.bench_function("limits: none set", |b| b.iter(|| drop(black_box(unlimited.admit().expect("admitted")))));

    let metrics = Metrics::default();
    // A realm among many, as on a server of a thousand tenants.
    for n in 0..1000 {
        metrics.request(&format!("realm-{n}"), "GET", 200);
    }
    group.bench_function("metrics: one request's recordings", |b| {
        b.iter(|| {
            let realm = black_box("realm-500");
            metrics.instantiations.inc();
            let labels = RealmLabels { realm: realm.to_string() };
            metrics.guest_call_seconds.get_or_create(&labels).observe(black_box(0.000_040));
            metrics.store_commit_seconds.observe(black_box(0.000_010));
            metrics.request(realm, "GET", 200);
        })
    });
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
