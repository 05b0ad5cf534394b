//! Throughput of the slice kernels against `std`-based loops.
//!
//! ```text
//! cargo run --release -p mcla-math --example throughput [total_evals] [block_len]
//! ```
//!
//! Evaluates `total_evals` (default 10^8) elements in passes over a block of
//! `block_len` (default 10^4, cache-resident) linear predictors drawn
//! uniformly from [-10, 10], and prints nanoseconds per element.

use mcla_math::{with_isa, Isa};
use std::hint::black_box;
use std::time::Instant;

fn std_softplus_logistic(eta: &[f64], sp: &mut [f64], lg: &mut [f64]) {
    for ((&e, s), l) in eta.iter().zip(sp.iter_mut()).zip(lg.iter_mut()) {
        let t = (-e.abs()).exp();
        *s = e.max(0.0) + t.ln_1p();
        *l = if e >= 0.0 {
            1.0 / (1.0 + t)
        } else {
            t / (1.0 + t)
        };
    }
}

fn std_exp(x: &[f64], out: &mut [f64]) {
    for (&e, o) in x.iter().zip(out.iter_mut()) {
        *o = e.exp();
    }
}

/// Runs `f` over the block until `total` elements are done; ns per element.
fn time(total: usize, block: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let passes = total.div_ceil(block);
    let start = Instant::now();
    for _ in 0..passes {
        f();
    }
    start.elapsed().as_secs_f64() * 1e9 / (passes * block) as f64
}

fn main() {
    let mut args = std::env::args().skip(1);
    let total: usize = args
        .next()
        .map_or(100_000_000, |s| s.parse().expect("total_evals"));
    let block: usize = args
        .next()
        .map_or(10_000, |s| s.parse().expect("block_len"));

    let mut state = 0x1234_5678_u64;
    let eta: Vec<f64> = (0..block)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            -10.0 + 20.0 * ((state >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect();
    let mut sp = vec![0.0; block];
    let mut lg = vec![0.0; block];

    println!(
        "mcla-math throughput: {total} evaluations, block of {block}, dispatch -> {}",
        mcla_math::active_isa()
    );

    let t_std = time(total, block, || {
        std_softplus_logistic(black_box(&eta), &mut sp, &mut lg);
        black_box((&sp, &lg));
    });
    let t_disp = time(total, block, || {
        mcla_math::softplus_logistic_slice(black_box(&eta), &mut sp, &mut lg).unwrap();
        black_box((&sp, &lg));
    });
    println!("softplus_logistic  std loop           {t_std:7.3} ns/elem");
    println!(
        "softplus_logistic  dispatched         {t_disp:7.3} ns/elem  ({:.1}x std)",
        t_std / t_disp
    );
    for isa in [Isa::Portable, Isa::Avx2, Isa::Avx512] {
        if !with_isa::supported(isa) {
            continue;
        }
        let t = time(total, block, || {
            with_isa::softplus_logistic_slice(isa, black_box(&eta), &mut sp, &mut lg).unwrap();
            black_box((&sp, &lg));
        });
        println!(
            "softplus_logistic  {:<18} {t:7.3} ns/elem  ({:.1}x std)",
            isa.name(),
            t_std / t
        );
    }

    let t = time(total, block, || {
        mcla_math::softplus_slice(black_box(&eta), &mut sp).unwrap();
        black_box(&sp);
    });
    println!("softplus_slice     dispatched         {t:7.3} ns/elem");
    let t = time(total, block, || {
        mcla_math::logistic_slice(black_box(&eta), &mut lg).unwrap();
        black_box(&lg);
    });
    println!("logistic_slice     dispatched         {t:7.3} ns/elem");

    let t_std_exp = time(total, block, || {
        std_exp(black_box(&eta), &mut sp);
        black_box(&sp);
    });
    let t_exp = time(total, block, || {
        mcla_math::exp_slice(black_box(&eta), &mut sp).unwrap();
        black_box(&sp);
    });
    println!("exp                std loop           {t_std_exp:7.3} ns/elem");
    println!(
        "exp_slice          dispatched         {t_exp:7.3} ns/elem  ({:.1}x std)",
        t_std_exp / t_exp
    );
}
