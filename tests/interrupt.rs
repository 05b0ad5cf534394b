//! A running fit stops promptly when its `Interrupt` is triggered from another thread (what
//! the R and Python bindings do on Ctrl-C), and an untriggered interrupt changes nothing.

use mcla::{fit, fit_interruptible, CrossedDesign, FitError, FitOptions, Interrupt, Model};
use std::time::{Duration, Instant};

/// A salamander-shaped crossed model (6 blocks of 20 animals) simulated at known values.
fn crossed_model() -> Model {
    let design = CrossedDesign::default();
    let spec = design.design().expect("a valid design");
    let (y, _) =
        mcla::simulate_response(&spec, &[1.0, 0.3, -1.9, 1.0], &[1.4, 1.25], 11).expect("simulate");
    Model::new(mcla::ModelSpec { y, ..spec }).expect("valid model")
}

#[test]
fn a_triggered_interrupt_stops_a_long_fit_within_a_second() {
    let model = crossed_model();
    // a million draws per block: minutes of work on a small machine
    let options = FitOptions {
        m: 1_000_000,
        threads: Some(2),
        ..FitOptions::default()
    };
    let stop = Interrupt::new();
    let trigger = stop.clone();
    let pressed = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        trigger.trigger();
        Instant::now()
    });
    let res = fit_interruptible(&model, &options, &mut |_| {}, &stop);
    let returned = Instant::now();
    let pressed_at = pressed.join().expect("trigger thread");
    assert!(
        matches!(res, Err(FitError::Interrupted)),
        "expected an interrupted fit, got {:?}",
        res.map(|f| f.theta)
    );
    let lag = returned.duration_since(pressed_at);
    assert!(
        lag < Duration::from_secs(2),
        "stopped {lag:?} after the interrupt"
    );
}

#[test]
fn an_untriggered_interrupt_gives_the_same_bits_as_a_plain_fit() {
    let model = crossed_model();
    let options = FitOptions {
        m: 500,
        threads: Some(2),
        ..FitOptions::default()
    };
    let plain = fit(&model, &options).expect("fit");
    let watched = fit_interruptible(&model, &options, &mut |_| {}, &Interrupt::new()).expect("fit");
    assert_eq!(plain.theta, watched.theta);
    assert_eq!(plain.se, watched.se);
    assert_eq!(plain.mcse, watched.mcse);
    assert_eq!(plain.loglik.to_bits(), watched.loglik.to_bits());
}
