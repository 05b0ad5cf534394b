//! Criterion benchmarks of the hot paths: one MCLA evaluation (salamander,
//! joint and factorised, m = 10^4) and its floor (the same number of
//! softplus/logistic evaluations with the kernel's routine).
//! `cargo bench --bench evaluation`.  The table in BENCHMARKS.md comes from
//! `cargo run --release --example bench`.
#[path = "../tests/common/mod.rs"]
mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use mcla::{Mcla, Sampler};

fn evaluation(c: &mut Criterion) {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let model = common::reference_model(&shared, "salamander");
    let m = 10_000;
    let mut group = c.benchmark_group("salamander evaluation m=1e4");
    for sampler in [Sampler::Joint, Sampler::Factorised] {
        let common::Prepared {
            start: st,
            blocks,
            sample,
        } = common::prepare(&model, sampler, m, 1);
        let mcla = Mcla::new(&model, &blocks, &sample);
        group.bench_function(sampler.name(), |b| {
            b.iter(|| mcla.evaluate(std::hint::black_box(&st.theta)))
        });
    }
    let n_terms = model.n() * m;
    let etas: Vec<f64> = (0..n_terms)
        .map(|i| ((i * 7919) % 4001) as f64 / 500.0 - 4.0)
        .collect();
    let (mut sp, mut mu) = (vec![0.0; n_terms], vec![0.0; n_terms]);
    group.bench_function("floor: n*m softplus+logistic", |b| {
        b.iter(|| mcla_math::softplus_logistic_slice(std::hint::black_box(&etas), &mut sp, &mut mu))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = evaluation
}
criterion_main!(benches);
